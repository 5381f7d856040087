"""Config files: loading with safe overrides and packaged ``regionkit::`` names (:mod:`.loader`,
:mod:`.packaged`), the checker (:mod:`.check`) and the files a config needs (:mod:`.files`).
Nothing is imported here."""
