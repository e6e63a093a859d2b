"""``python -m bench.datasets NAME OUTPUT.csv``: write a benchmark data set as a CSV to import."""

from __future__ import annotations

import sys

from . import registry


def main(argv: list[str]) -> int:
    sets = registry()
    if len(argv) != 2 or argv[0] not in sets:
        print(f"usage: python -m bench.datasets {{{','.join(sets)}}} OUTPUT.csv", file=sys.stderr)
        return 2
    data = sets[argv[0]]
    table = data.make()
    table.to_csv(argv[1], index=False)
    m = data.mapping
    pairs = " ".join(f"{k}={v}" for k, v in m.fields.items())
    print(f"wrote {len(table):,} rows to {argv[1]}")
    print(f"import with: import_transactions {argv[1]} --map {pairs} --label-column {m.label}")
    if m.notes:
        print(m.notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
