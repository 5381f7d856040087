from tests.models.seggpt.support import one_thread, tiny_seggpt_dir  # noqa: F401  (fixtures)
