"""Running box generation: the job built from a config (:mod:`.job`), the runner (:mod:`.runner`),
the journal that makes runs resumable (:mod:`.journal`), worker processes (:mod:`.workers`,
:mod:`.pool`), the locked run folder (:mod:`.run_folder`) and lifecycle hooks (:mod:`.hookspecs`,
:mod:`.lifecycle`).  Nothing is imported here."""
