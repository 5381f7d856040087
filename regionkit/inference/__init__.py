"""Running box generation: the job built from a config (:mod:`.job`), the runner (:mod:`.runner`),
the journal that makes runs resumable (:mod:`.journal`), worker processes (:mod:`.workers`,
:mod:`.pool`) and where they read images from (:mod:`.sources`), the thread budget
(:mod:`.threads`), sharded runs under torchrun (:mod:`.distributed`), the locked run folder
(:mod:`.run_folder`) and lifecycle hooks (:mod:`.hookspecs`, :mod:`.lifecycle`).  Nothing is
imported here."""
