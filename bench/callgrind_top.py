#!/usr/bin/env python3
"""Reads a callgrind file of bench/instructions.sh (INSTRUCTIONS_OUT) per metered call.

callgrind_annotate 3.19 prints only the totals for the broker's files, so this reads the format
itself (names compressed as "(id) name", a cost line after "calls=" being the call's inclusive cost).

Usage: bench/callgrind_top.py FILE CALLS [--top N] [--event E] [--by-library | --callers REGEX | --callees REGEX]
  --event E      the event counted: Ir (instructions, the default), or with INSTRUCTIONS_CACHE_SIM=1
                 I1mr (instruction cache misses), D1mr, D1mw, ILmr, DLmr, DLmw
  (default)      the functions' own instructions per call, highest first
  --by-library   own instructions per call summed by shared object (the broker's binary by namespace)
  --callers RE   who calls the functions matching RE: inclusive instructions and calls per call
  --callees RE   what the functions matching RE call, and their own instructions per call
"""
import argparse
import collections
import re

COMPRESSED = re.compile(r"\((\d+)\)(?: (.*))?")


def main():
    args = parse_args()
    self_cost, edges = read(args.file, args.event)
    if args.callers or args.callees:
        print_edges(edges, self_cost, args)
    elif args.by_library:
        libraries = collections.Counter()
        for (obj, fn), cost in self_cost.items():
            libraries[library_of(obj, fn)] += cost
        print_counter(libraries, args.calls, args.top)
    else:
        functions = collections.Counter()
        for (_, fn), cost in self_cost.items():
            functions[fn] += cost
        print(f"{sum(functions.values()) // args.calls} {UNITS.get(args.event, args.event)} per call")
        print_counter(functions, args.calls, args.top)


def parse_args():
    parser = argparse.ArgumentParser(description="Instructions per call from a callgrind file.")
    parser.add_argument("file")
    parser.add_argument("calls", type=int)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--event", default="Ir")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--by-library", action="store_true")
    mode.add_argument("--callers")
    mode.add_argument("--callees")
    args = parser.parse_args()
    if args.calls <= 0 or args.top <= 0:
        parser.error("CALLS and --top must be positive")
    for name in ("callers", "callees"):
        if getattr(args, name) is not None:
            try:
                setattr(args, name, re.compile(getattr(args, name)))
            except re.error as e:
                parser.error(f"--{name}: {e}")
    return args


UNITS = {"Ir": "instructions", "I1mr": "instruction cache misses"}


def read(path, event="Ir"):
    """(object, function) -> own cost of `event`, and (caller, callee) -> [inclusive cost, calls]."""
    column = None
    names = {"fn": {}, "ob": {}}
    self_cost = collections.Counter()
    edges = collections.defaultdict(lambda: [0, 0])
    obj = fn = callee = None
    pending_calls = None  # the count of the last "calls=" line, until its cost line is read
    with open(path) as lines:
        for line in lines:
            if line.startswith("positions:") and line.split()[1:] != ["line"]:
                raise SystemExit(f"{path}: {line.strip()}: only line positions are read")
            if line.startswith("events:"):
                events = line.split()[1:]
                if event not in events:
                    raise SystemExit(f"{path}: no {event} event (it has {' '.join(events)})")
                column = 1 + events.index(event)  # after the line position
            key, _, value = line.partition("=")
            if key in ("ob", "cob"):
                name = resolve(names["ob"], value.strip())
                obj = name if key == "ob" else obj
            elif key in ("fn", "cfn"):
                name = resolve(names["fn"], value.strip())
                if key == "fn":
                    fn = name
                else:
                    callee = name
            elif key == "calls":
                pending_calls = int(value.split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                values = line.split()
                cost = int(values[column]) if len(values) > column else 0  # trailing zeros are left out
                if pending_calls is not None:  # 0 for calls made before callgrind_control --zero
                    edge = edges[(fn, callee)]
                    edge[0] += cost
                    edge[1] += pending_calls
                    pending_calls = None
                else:
                    self_cost[(obj, fn)] += cost
    return self_cost, edges


def resolve(table, text):
    match = COMPRESSED.match(text)
    if not match:
        return text
    if match.group(2):
        table[match.group(1)] = match.group(2)
    return table.get(match.group(1), text)


def library_of(obj, fn):
    """A shared library by its file; the broker's own functions by their namespace."""
    obj = (obj or "").rsplit("/", 1)[-1]
    if ".so" in obj:
        return obj
    # The qualified name itself, after a return type such as "void " or "char const* ".
    name = re.sub(r"^(?:[\w:<>,* ]*?[ *&])??(?=(?:boost|ap|std)::)", "", fn.split("(", 1)[0], count=1)
    for prefix in ("boost::beast", "boost::json", "boost::asio"):
        if name.startswith(prefix):
            return prefix
    if name.startswith("ap::"):
        parts = name[4:].split("<", 1)[0].split("::")
        return "ap::" + parts[0] if len(parts) > 1 else "ap"  # a namespace, or ap's own functions
    return f"{obj}: other"


def print_edges(edges, self_cost, args):
    pattern, side = (args.callers, 1) if args.callers else (args.callees, 0)
    rows = collections.Counter()
    counts = {}
    for pair, (cost, calls) in edges.items():
        if pair[side] and pattern.search(pair[side]):
            rows[pair] += cost
            counts[pair] = counts.get(pair, 0) + calls
    if args.callees:
        own = sum(c for (_, fn), c in self_cost.items() if fn and pattern.search(fn))
        print(f"{own // args.calls:8d}  own {UNITS.get(args.event, args.event)} per call")
    several = len({pair[side] for pair in rows}) > 1  # then each row names the matched function too
    for (caller, callee), cost in rows.most_common(args.top):
        other = caller if args.callers else callee
        matched = f"  [{short(callee if args.callers else caller, 60)}]" if several else ""
        print(f"{cost // args.calls:8d}  x{counts[(caller, callee)] / args.calls:6.2f}  {short(other)}{matched}")


def print_counter(counter, calls, top):
    total = sum(counter.values()) or 1
    for name, cost in counter.most_common(top):
        print(f"{cost // calls:8d}  {100 * cost / total:5.1f}%  {short(name)}")


def short(name, width=160):
    return name if len(name) <= width else name[: width - 3] + "..."


if __name__ == "__main__":
    main()
