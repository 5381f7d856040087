"""Matchers: which detected class names does a caption mention?

* :class:`LlmMatcher` asks a local instruction-tuned LLM (a ``transformers`` text-generation
  pipeline, as Patch Matters' ``get_main_box.py`` did with Llama-3.1-8B-Instruct) and parses
  the first ``[...]`` list of its answer with :func:`parse_bracket_list`.
* :class:`KeywordMatcher` is deterministic and needs no model: a class name matches when its
  words (underscores and hyphens read as spaces) appear in the caption, the last word also
  in a simple plural (``+s``, ``+es``).  Useful offline and in tests.

Both return a subset of the given class names, unique, in the order the names were given
(:class:`LlmMatcher`: in the order the model listed them).

Differences from the original LLM step (``get_main_box.py`` L69-211):

* one prompt instead of two: the original first asked the LLM to list the objects of the
  caption, filtered the words through a stop-list, then asked it to match those words to
  the detector's; here the model sees the caption and the detector's names at once
  (wording is regionkit's own);
* decoding is greedy by default (``temperature=0.0``), so results are repeatable; the
  original sampled with ``temperature=0.2, top_p=0.9`` (set ``temperature=0.2`` for that);
* parsing never raises: a reply without ``[...]`` means no match (the original raised
  ``IndexError``); both quote styles are removed; the list may span several lines.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from regionkit.kinds.matchers import BaseMatcher
from regionkit.params import Device, PathText, Range, checked
from regionkit.plugins.language.transformers_support import DType, build_pipeline, check_model_path

__all__ = ["LlmMatcher", "KeywordMatcher", "parse_bracket_list", "build_match_messages"]

_FIRST_LIST = re.compile(r"\[(.*?)\]", re.DOTALL)
_QUOTES = "'\"`\u2018\u2019\u201c\u201d"


def parse_bracket_list(text: str) -> list[str]:
    """The items of the first ``[...]`` in ``text``; ``[]`` when there is none.

    Items are split on commas, stripped of whitespace and of surrounding quotes (``'``,
    ``"``, backticks, typographic quotes) and brackets; empty items are dropped.
    ``"Answer: ['dog', \\"frisbee\\"]"`` gives ``["dog", "frisbee"]``; ``"['None']"`` gives
    ``["None"]`` (the original's "no match" reply, which matches no class name).
    """
    if not isinstance(text, str):
        return []
    found = _FIRST_LIST.search(text)
    if found is None:
        return []
    items = []
    for raw in found.group(1).split(","):
        item = raw.strip().strip("[]").strip().strip(_QUOTES).strip()
        if item:
            items.append(item)
    return items


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(n) for n in names))


def build_match_messages(caption: str, class_names: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages :class:`LlmMatcher` sends (system + user)."""
    system = (
        "You compare a short description of an image with the class names that an object detector "
        "reported for the same image.\n"
        "Return the detector class names that refer to something the description mentions, counting "
        "synonyms and closely related words (for example 'man' or 'girl' for 'person', 'puppy' for 'dog').\n"
        "Copy every class name exactly as it is written in the detector list; never return a word that is "
        "not in that list.\n"
        "Answer with a single Python-style list and nothing else, for example ['person', 'dog'].\n"
        "If the description mentions none of the class names, answer [].")
    names = ", ".join(repr(n) for n in class_names)
    user = f"Description: {caption}\nDetector class names: [{names}]\nMatching detector class names:"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


class LlmMatcher(BaseMatcher):
    """Ask a local LLM (transformers text-generation) which detected class names a caption mentions; never downloads.

    Parameters (keyword only):

    model:
        Local folder of an instruction-tuned causal LM (Patch Matters used
        Llama-3.1-8B-Instruct).  Missing path:
        :class:`~regionkit.plugins.language.captioner.ModelPathNotFoundError`.
    device:
        ``'cpu'``, ``'cuda'``, ``'cuda:0'``, ... or a GPU index.
    max_new_tokens:
        Maximum length of the reply.
    temperature:
        ``0.0`` (default) decodes greedily, so the same caption gives the same answer;
        ``> 0`` samples with this temperature and ``top_p`` (the original: 0.2 and 0.9).
    top_p:
        Nucleus-sampling mass, used only when ``temperature > 0``.
    dtype:
        ``None``, ``'float16'`` (as the original), ``'bfloat16'``, ``'float32'`` or ``'auto'``.

    The prompt is :func:`build_match_messages` (through the tokenizer's chat template when it
    has one); the reply is parsed with :func:`parse_bracket_list` and only names that are
    exactly among ``class_names`` are returned.
    """

    conformance_skip = "needs a local text-generation model"

    @checked
    def __init__(self, *, model: PathText = "", device: Device = "cpu",
                 max_new_tokens: Annotated[int, Range(1, 65536)] = 256,
                 temperature: Annotated[float, Range(0.0, 100.0)] = 0.0,
                 top_p: Annotated[float, Range(0.0, 1.0, low_open=True)] = 0.9, dtype: DType = None) -> None:
        self.model = check_model_path(model, "text-generation model")
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.dtype = dtype
        self._pipe = build_pipeline("text-generation", self.model, self.device, self.dtype, "the LLM matcher")

    def __repr__(self) -> str:
        return (f"LlmMatcher(model={self.model!r}, device={self.device!r}, max_new_tokens={self.max_new_tokens}, "
                f"temperature={self.temperature}, top_p={self.top_p}, dtype={self.dtype!r})")

    def _prompt(self, caption: str, class_names: Sequence[str]) -> str:
        messages = build_match_messages(caption, class_names)
        tokenizer = getattr(self._pipe, "tokenizer", None)
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in messages) + " "

    def match(self, caption: str, class_names: Sequence[str]) -> list[str]:
        names = _unique(class_names)
        if not names:
            return []
        gen: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "return_full_text": False}
        if self.temperature > 0:
            gen.update(do_sample=True, temperature=self.temperature, top_p=self.top_p)
        else:
            gen["do_sample"] = False
        tokenizer = getattr(self._pipe, "tokenizer", None)
        if tokenizer is not None and getattr(tokenizer, "pad_token_id", None) is None:
            gen["pad_token_id"] = tokenizer.eos_token_id
        out = self._pipe(self._prompt(caption, names), **gen)
        while isinstance(out, list):
            out = out[0]
        reply = str(out["generated_text"]) if isinstance(out, dict) else str(out)
        allowed = set(names)
        return _unique([n for n in parse_bracket_list(reply) if n in allowed])



_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _variants(name: str) -> list[tuple[str, ...]]:
    words = _words(name.replace("_", " "))
    if not words:
        return []
    head, last = tuple(words[:-1]), words[-1]
    return [(*head, form) for form in dict.fromkeys((last, last + "s", last + "es"))]


def _contains(haystack: list[str], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(tuple(haystack[i:i + n]) == needle for i in range(len(haystack) - n + 1))


class KeywordMatcher(BaseMatcher):
    """Deterministic matcher: class names whose words (underscores as spaces, plural -s/-es) occur in the caption.

    Matching is case-insensitive on words made of letters and digits: ``traffic_light``
    matches "two traffic lights"; ``dog`` matches "dogs" but not "hotdog"; ``bus`` matches
    "buses".  No synonyms ("man" does not match ``person``): use :class:`LlmMatcher` for that.
    """

    def __init__(self) -> None:
        pass

    def __repr__(self) -> str:
        return "KeywordMatcher()"

    def match(self, caption: str, class_names: Sequence[str]) -> list[str]:
        words = _words(str(caption))
        return [name for name in _unique(class_names) if any(_contains(words, v) for v in _variants(name))]
