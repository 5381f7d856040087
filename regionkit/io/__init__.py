"""Reading and writing files: images (:mod:`.images`), atomic and strict JSON (:mod:`.atomic`),
box files and their formats (:mod:`.box_files`), finding images (:mod:`.image_locator`),
pictures (:mod:`.pictures`), sample photos (:mod:`.samples`), weights-file checks (:mod:`.weights`).
Nothing is imported here."""
