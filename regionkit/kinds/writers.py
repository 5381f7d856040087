"""Writers: each image's result into a record, all records into output files."""
from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from regionkit.kinds.base import ContractMethod, Kind, Trait

if TYPE_CHECKING:
    from regionkit.io.box_files import BoxFormat
    from regionkit.structures.results import ImageResult

__all__ = ["BaseWriter", "KIND"]


class BaseWriter(abc.ABC):
    """Turns each image's result into a record, then writes output files from all records.

    The runner calls ``make_record`` once per image (lifecycle hooks may then edit the
    record), streams the records to its journal, and at the end calls ``finalize`` with an
    iterator over the records in dataset order, so a writer never holds a whole dataset in
    memory.  Records must be strict JSON (no NaN or infinity).  ``required_regions`` names the
    region sets the writer reads, so a misconfigured pipeline fails before any image is
    processed.  ``filename`` is the file (or folder) the writer creates in the output folder:
    a plain name, unique within a run.

    ``box_format`` (optional) is the :class:`~regionkit.io.box_files.BoxFormat` of the files
    the writer writes; it lets ``regionkit stats``, ``regionkit visualize`` and the
    conformance kit read them back.
    """

    #: output file name (or folder, for writers that write many files), inside the run's output folder
    filename: str = ""
    #: set ``True`` if ``make_record`` reads ``result.image`` (the decoded pixels)
    needs_image: bool = False
    #: set ``True`` if ``filename`` names a folder the writer fills with files (e.g. PNGs)
    writes_folder: bool = False
    #: how to read back the files this writer writes (``None``: not a box file)
    box_format: ClassVar[BoxFormat | None] = None

    def required_regions(self) -> set[str]:
        """The region sets ``make_record`` reads (checked before the first image)."""
        return set()

    def bind(self, producers: Mapping[str, Any]) -> None:
        """Called once before the run with ``{region set: the selector that produces it}``.

        ``"detections"`` maps to ``None``.  A writer whose output depends on how a region set
        was made (the CIRR writer takes the CIRR filter's arithmetic) reads it here; the
        default does nothing.
        """

    def start(self, out_dir: Path) -> None:
        """Called once before the first image with the run's output folder (default: nothing)."""

    @abc.abstractmethod
    def make_record(self, result: ImageResult) -> Any:
        """Build this writer's JSON-serialisable record for one image."""

    @abc.abstractmethod
    def finalize(self, out_dir: Path, records: Iterable[Any]) -> list[Path]:
        """Write the output files under ``out_dir`` (atomically) and return their paths."""

    def read_records(self, paths: Sequence[Path]) -> list[Any]:
        """Read back what ``finalize`` wrote, as the list of records (round-trip check).

        The default reads one JSON file holding a list of records, or a dict whose values
        are the records; writers with other formats override it.
        """
        import json

        data = json.loads(Path(paths[0]).read_text(encoding="utf-8"))
        return list(data.values()) if isinstance(data, dict) else list(data)


KIND = Kind(
    key="writers", singular="writer",
    contract="make_record(result) -> record; finalize(out_dir, records) -> written paths",
    methods=(ContractMethod("make_record", 1, "make_record(result) -> record"),
             ContractMethod("finalize", 2, "finalize(out_dir, records) -> list[Path]")),
    traits=(Trait("needs_image", False, "make_record reads result.image"),
            Trait("writes_folder", False, "filename is a folder the writer fills with files")),
    base=BaseWriter, conformance="regionkit.devkit.conformance.writers",
    example_target="my_pkg.writers:MyWriter",
)
