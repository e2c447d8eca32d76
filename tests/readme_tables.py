"""The parameter counts the docs print, parsed so the tests check them against built models.

* ``docs/benchmarks.md``, "Parameters of one RGA-SC block": one RGA block per (in_channels,
  pooled size), exact counts of RGA-S, RGA-C and RGA-SC.
* ``README.md``, "Table 6 configs": total (M) and RGA (M) per config (linked or not).
* ``configs/rga/README.md``, "Parameter counts": the exact output of the counting command, one
  line per 80k config; "Results": total / w/o aux (M); "Pooled size": RGA-SC (M) per size.
"""
import re
from pathlib import Path
from typing import Dict, Tuple

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
CONFIG_README = REPO / 'configs' / 'rga' / 'README.md'
BENCHMARKS = REPO / 'docs' / 'benchmarks.md'
USAGE = REPO / 'docs' / 'usage.md'
ADE20K_README = REPO / 'configs' / 'rga' / 'ade20k' / 'README.md'
#: a table cell naming a config: `name.py`, or [`name.py`](path) linking it
CONFIG_CELL = r'\[?`([^`]+\.py)`(?:\]\([^)]+\))?'


def _int(text: str) -> int:
    return int(text.replace(',', ''))


def _rows(pattern: str, path: Path):
    rows = re.findall(pattern, path.read_text(), flags=re.M)
    assert rows, f'no table row of {path} matches {pattern!r}'
    return rows


def block_params() -> Dict[Tuple[int, int], Tuple[int, int, int]]:
    """docs/benchmarks.md: (in_channels, pooled side) -> exact (RGA-S, RGA-C, RGA-SC) parameters."""
    rows = _rows(r'^\| (\d+) \| (\d+)×(\d+)[^|]* \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$',
                 BENCHMARKS)
    return {(int(c), int(h)): (_int(s), _int(ch), _int(sc)) for c, h, w, s, ch, sc in rows}


def config_param_lines() -> Dict[str, Tuple[int, int, int]]:
    """configs/rga/README.md: config file name -> exact (total, w/o aux, RGA) parameters."""
    rows = _rows(r'^configs/rga/(\S+\.py): total ([\d,]+)  w/o aux ([\d,]+)  RGA ([\d,]+)$',
                 CONFIG_README)
    return {name: (_int(t), _int(w), _int(r)) for name, t, w, r in rows}


def config_rounded_totals() -> Dict[str, Tuple[float, float]]:
    """configs/rga/README.md "Results": config (80k name) -> (total M, w/o aux M)."""
    rows = _rows(r'^\| [^|]+ \| `([^`]+\.py)` \| ([\d.]+)M / ([\d.]+)M \|', CONFIG_README)
    return {name.replace('{40k,80k}', '80k'): (float(t), float(w)) for name, t, w in rows}


def readme_config_table() -> Dict[str, Tuple[float, float]]:
    """README.md "Table 6 configs": config (80k name: 40k and 80k build the same model, see
    test_configs.test_same_model_as) -> (total M, RGA M; 0 for '–')."""
    rows = _rows(r'^\| [^|]+ \| ' + CONFIG_CELL +
                 r"(?: \(mmseg's\))? \| ([\d.]+)M \| (–|[\d.]+M) \|", README)
    return {name.replace('-40k_', '-80k_'): (float(t), 0.0 if r == '–' else float(r[:-1]))
            for name, t, r in rows}


def pooled_size_table() -> Dict[int, Tuple[float, float]]:
    """configs/rga/README.md "Pooled size": side -> RGA-SC (M) on 512 and on 2048 channels."""
    rows = _rows(r'^\| \**(\d+)x\d+\**[^|]*\| \d+ \| \**([\d.]+)M\**[^|]*\| ([\d.]+)M \|$',
                 CONFIG_README)
    return {int(s): (float(a), float(b)) for s, a, b in rows}


def millions(count: int) -> float:
    """A count as the READMEs round it: M with 2 decimals."""
    return round(count / 1e6, 2)


def paper_protocol_table() -> Dict[str, Tuple[str, float, float, float, float, float]]:
    """configs/rga/README.md "Paper-protocol family": row name (`<row>`) -> (Table 6 row,
    total M, w/o aux M, RGA M (0 for '–'), paper train mIoU, paper val mIoU)."""
    rows = _rows(r'^\| ([^|]+?) \| `([a-z0-9-]+)` \| [^|]+ \| ([\d.]+)M / ([\d.]+)M \| '
                 r'(–|[\d.]+M) \| ([\d.]+) / ([\d.]+) \|$', CONFIG_README)
    return {name: (row, float(t), float(w), 0.0 if r == '–' else float(r[:-1]), float(tr),
                   float(va)) for row, name, t, w, r, tr, va in rows}


def mmseg_family_paper_val() -> Dict[str, float]:
    """configs/rga/README.md "Results": config stem (`fcn`, `pspnet-rga`, ...) -> paper val."""
    rows = _rows(r'^\| [^|]+ \| `([a-z0-9-]+)_r101-d8_4xb2-\{40k,80k\}[^`]*` \| [^|]+ \| '
                 r'([\d.]+) \|', CONFIG_README)
    return {stem: float(val) for stem, val in rows}


def paper_train_sentence() -> Tuple[float, ...]:
    """configs/rga/README.md: "The paper also gives train mIoU (83.8, ...;", in Table 6's order."""
    (values,) = _rows(r"The paper also gives train mIoU \(([\d., ]+);", CONFIG_README)
    return tuple(float(v) for v in values.split(','))
