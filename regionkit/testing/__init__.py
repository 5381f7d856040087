"""The conformance kit for plugin authors (public): check that a component honours its kind's contract.

Two ways to use it:

* **the pytest plugin** (loaded automatically once regionkit is installed):
  ``pytest --regionkit-conformance=my-dist`` (or the ini key ``regionkit_conformance =
  my-dist``) runs one test per (component, check) for every component that distribution
  declares in its entry points;
* **these functions**, for your own tests::

      from regionkit.testing import check_detector
      check_detector(MyDetector(threshold=0.3))      # raises ConformanceError listing every failure

What is checked, per kind:

detectors (:func:`check_detector`)
    ``detect`` returns a list with one :class:`~regionkit.Boxes` per image;
    ``image_size == (width, height)``; boxes finite, non-empty (``x2 > x1``, ``y2 > y1``) and
    inside the image; scores finite and sorted descending; two calls give the same boxes; a
    batch of three mixed-size images gives what three single-image calls give; greyscale
    content, RGBA cut-outs (alpha dropped, as the image loader does), 16x16, very thin and
    flat (constant) images work; the input arrays are not modified.  Real photographs from
    scikit-image are used when it is installed, synthetic scenes otherwise.
box selectors (:func:`check_selector`)
    the output is ``Boxes`` for the same image, valid (finite, not inverted, inside the image);
    empty input gives valid output; two calls agree; the input is not modified; if the class
    sets ``idempotent = True``, applying it twice equals applying it once.  Selectors with
    ``needs_image = True`` get ``image=`` an RGB array of the right size.
writers (:func:`check_writer`)
    ``start(out_dir)`` is called first, as the runner does; ``make_record`` on synthetic
    results (with every region set ``required_regions()`` names; ``result.image`` only if
    ``needs_image``) gives strict JSON that survives a JSON round trip, the same twice;
    ``finalize(out_dir, iterator)`` writes its files inside ``out_dir``, returns every file it
    wrote and leaves no temporary files; ``read_records(paths)`` gives back the records; an
    empty run writes nothing or files that read back as ``[]``; a writer with a
    ``box_format`` has its files read back through it.
losses (:func:`check_loss`, needs torch; skipped without it)
    A loss is a ``torch.nn.Module`` whose constructor takes ``loss_weight`` and whose class
    provides ``example_inputs()`` (keyword arguments for ``forward``).  Checked: the output is
    a finite 0-dim floating tensor; ``backward()`` gives finite gradients to every input with
    ``requires_grad=True``; doubling ``loss_weight`` doubles the value.
captioners / matchers (:func:`check_captioner`, :func:`check_matcher`)
    one string per image / a subset of the given class names; deterministic.

Class attributes a component may set for the kit: ``conformance_params`` (a list of
parameter dicts to build it with; required when the constructor has parameters without
defaults), ``conformance_skip = "reason"`` (the pytest plugin skips it),
``conformance_tolerance`` (absolute tolerance of the determinism and batch comparisons,
default ``1e-6``).

Importing this module is cheap; numpy, regionkit's structures and torch load when a check runs.
"""
from regionkit.devkit.conformance import (
                                          DEFAULT_TOLERANCE,
                                          Check,
                                          CheckContext,
                                          ConformanceError,
                                          applicable_checks,
                                          check_captioner,
                                          check_component,
                                          check_detector,
                                          check_loss,
                                          check_matcher,
                                          check_selector,
                                          check_writer,
                                          checks_for,
                                          format_traceback,
                                          run_check,
)
from regionkit.devkit.conformance.inputs import SampleImage, conformance_images, selector_inputs, writer_results

__all__ = ["ConformanceError", "Check", "CheckContext", "check_detector", "check_selector", "check_writer",
           "check_loss", "check_captioner", "check_matcher", "check_component", "run_check", "applicable_checks",
           "checks_for", "format_traceback", "DEFAULT_TOLERANCE", "SampleImage", "conformance_images",
           "selector_inputs", "writer_results"]
