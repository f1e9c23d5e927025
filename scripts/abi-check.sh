#!/usr/bin/env bash
# ABI check of libqwen.so against the committed baseline abi/libqwen.so.<QWEN_ABI_VERSION>.abi.
#
# Usage: scripts/abi-check.sh BUILD_DIR            check (CI)
#        scripts/abi-check.sh BUILD_DIR --update   regenerate the baseline after a reviewed change
#
# The library must be built with debug info (-g; the `release` and `relwithdebinfo` presets
# have it): abidw reads the types of the public interface from DWARF, limited to the types
# declared in include/qwen (--headers-dir) so nothing internal is part of the ABI.
#
# Policy (docs/ABI.md):
#   - Incompatible change = any removed or changed function or variable, any changed public
#     type, or abidiff's "incompatible" bit (8). The only type change accepted as compatible is
#     appending members at the end of a params struct whose first member is `struct_size`
#     (the library reads only what the caller's struct_size covers). An incompatible change
#     fails unless QWEN_ABI_VERSION (the SONAME) was bumped: then there is no baseline for the
#     new version yet, and --update creates it.
#   - Compatible changes (new functions, new enumerators, appended params fields) are
#     allowed but must be recorded: the check fails until the baseline is regenerated with
#     --update, so that every ABI change is a conscious, reviewed edit of abi/*.abi.
#   - --update refuses an incompatible change when the ABI version was not bumped.
# Exit status: 0 ok (or baseline written), 1 check failed / update refused, 2 usage or tool error.
set -euo pipefail

usage() { echo "usage: $0 BUILD_DIR [--update]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
build=$1
update=0
if [[ $# -eq 2 ]]; then
  [[ $2 == --update ]] || usage
  update=1
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
header=$repo/include/qwen/qwen.h
say() { echo "abi-check: $*"; }
die() { echo "abi-check: $1" >&2; exit "${2:-1}"; }

for tool in abidw abidiff readelf python3; do
  command -v "$tool" >/dev/null || die "missing tool '$tool' (scripts/install-deps.sh installs abigail-tools and binutils)" 2
done
[[ -d $build ]] || die "no build directory '$build'" 2

abi=$(sed -n 's/^#define QWEN_ABI_VERSION \{1,\}\([0-9]\{1,\}\).*/\1/p' "$header")
[[ -n $abi ]] || die "QWEN_ABI_VERSION not found in $header" 2
soname=libqwen.so.$abi

lib=$(find "$build" -name "$soname" \( -type f -o -type l \) -print -quit)
[[ -n $lib ]] || die "no $soname under $build (build the 'qwen' target; is QWEN_ABI_VERSION in the header newer than the build?)" 2
lib=$(readlink -f "$lib")

actual_soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[[ $actual_soname == "$soname" ]] || die "$lib has SONAME '$actual_soname', expected '$soname' (QWEN_ABI_VERSION $abi)"

if ! readelf -S --wide "$lib" | grep -q '\.debug_info'; then
  die "$lib has no debug info: the ABI cannot be read. Build with -g (cmake --preset release or relwithdebinfo)."
fi

baseline_rel=abi/$soname.abi
baseline=$repo/$baseline_rel
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
current=$tmp/current.abi

# Only what the exported qwen_* functions reach, and of that only the types declared in
# include/qwen. Stable text for a committed file: no source locations (comment edits would
# churn it), no build paths (the checkout's path is stripped from the translation units'
# names), no DT_NEEDED (a new private dependency is not an ABI change), hashed type ids.
abidw --exported-interfaces-only --headers-dir "$repo/include/qwen" --drop-private-types \
  --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed --type-id-style hash \
  --out-file "$current.raw" "$lib" || die "abidw failed on $lib" 2
sed "s|path='$repo/|path='|" "$current.raw" > "$current"

# Every exported function must be described by the debug info, or its types escape the check.
undescribed=$(python3 - "$current" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
syms = {s.get("name") for s in root.iter("elf-symbol") if s.get("is-defined") == "yes"}
described = {f.get("elf-symbol-id") for f in root.iter("function-decl")}
described |= {v.get("elf-symbol-id") for v in root.iter("var-decl")}
# aliases (e.g. identical functions folded by the compiler) share one declaration
for s in root.iter("elf-symbol"):
    if s.get("alias") and s.get("name") in described:
        described.update(s.get("alias").split(","))
print(" ".join(sorted(syms - described)))
PY
)
if [[ -n $undescribed ]]; then
  say "warning: exported symbols without a declaration in the debug info (their types are not checked): $undescribed"
fi

if [[ ! -f $baseline ]]; then
  others=$(cd "$repo" && ls abi/*.abi 2>/dev/null | tr '\n' ' ' || true)
  if [[ $update -eq 0 ]]; then
    die "no baseline $baseline_rel for QWEN_ABI_VERSION $abi${others:+ (existing: $others)}.
If you bumped QWEN_ABI_VERSION on purpose, create it with: scripts/abi-check.sh $build --update"
  fi
  mkdir -p "$(dirname "$baseline")"
  cp "$current" "$baseline"
  say "created $baseline_rel for the new ABI version $abi${others:+ (older baselines kept: $others)}"
  exit 0
fi

# -l: leaf changes (each changed type once); --harmless: report the changes abidiff calls
# harmless too (new enumerators, ...) so that they are recorded in the baseline as well.
set +e
abidiff --leaf-changes-only --harmless --no-show-locs "$baseline" "$current" > "$tmp/report.txt" 2>&1
rc=$?
set -e
if (( rc & 3 )); then
  cat "$tmp/report.txt" >&2
  die "abidiff failed (exit $rc)" 2
fi

if (( rc == 0 )) && cmp -s "$baseline" "$current"; then
  say "OK: the ABI of $soname matches $baseline_rel"
  exit 0
fi

# Classify the report: compatible (additions only) or incompatible.
verdict=$(python3 - "$tmp/report.txt" "$baseline" "$current" "$rc" <<'PY'
import re, sys, xml.etree.ElementTree as ET

report, old_xml, new_xml, rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = open(report).read().splitlines()
problems = []
if rc & 8:
    problems.append("abidiff reports an incompatible change")

for line in text:
    m = re.search(r"(functions|variables) summary: (\d+) Removed, (\d+) Changed", line)
    if m and (int(m.group(2)) or int(m.group(3))):
        problems.append(f"{m.group(2)} removed and {m.group(3)} changed {m.group(1)}")
    m = re.search(r"(\d+) Removed .*symbols? not referenced by debug info", line)
    if m and int(m.group(1)):
        problems.append(f"{m.group(1)} removed symbols")

def structs(path):
    out = {}
    for c in ET.parse(path).getroot().iter("class-decl"):
        if c.get("is-declaration-only") == "yes" or not c.get("name"):
            continue
        out[c.get("name")] = [(v.get("name"), dm.get("layout-offset-in-bits"))
                              for dm in c.findall("data-member") for v in dm.findall("var-decl")]
    return out
old_structs, new_structs = structs(old_xml), structs(new_xml)

# Leaf type blocks: a line "'<kind> <name>' changed:" then indented lines.
i = 0
while i < len(text):
    m = re.match(r"^'(struct|class|union|enum|typedef) ([^']+)' changed:", text[i])
    if not m:
        i += 1
        continue
    kind, name = m.group(1), m.group(2)
    body = []
    i += 1
    while i < len(text) and (text[i].startswith(" ") or not text[i].strip()):
        body.append(text[i])
        i += 1
    section = None
    for line in body:
        s = line.strip()
        if not s:
            continue
        if re.match(r"^\d+ (data member insertions?|enumerator insertions?|impacted interfaces?):$", s):
            section = s
            continue
        if s == "type size hasn't changed" or re.match(r"^type size changed from \d+ to \d+ \(in bits\)$", s):
            if kind == "enum" and "changed from" in s:
                problems.append(f"{kind} {name}: size changed")
            continue
        if section and line.startswith("    "):
            continue  # an entry of the current list section
        problems.append(f"{kind} {name} changed incompatibly: {s.rstrip(':')}")
        break  # one reason per type is enough; the report above has the details
    if any("data member insertion" in l for l in body):
        old, new = old_structs.get(name), new_structs.get(name)
        if kind != "struct" or old is None or new is None:
            problems.append(f"{kind} {name}: members inserted")
        elif not old or old[0][0] != "struct_size":
            problems.append(f"struct {name}: members added to a struct that is not versioned by a leading struct_size")
        elif new[:len(old)] != old:
            problems.append(f"struct {name}: members inserted before existing ones (only appending is compatible)")

print("INCOMPATIBLE" if problems else "COMPATIBLE")
for p in dict.fromkeys(problems):
    print("  - " + p)
PY
)

kind=${verdict%%$'\n'*}
echo "---- abidiff $baseline_rel <built $soname> ----"
cat "$tmp/report.txt"
echo "----"
if [[ $kind == INCOMPATIBLE ]]; then
  echo "$verdict" | tail -n +2
  die "INCOMPATIBLE ABI change without an ABI version bump. Either restore compatibility, or bump
QWEN_ABI_VERSION in include/qwen/qwen.h (the SONAME becomes libqwen.so.<new>) and run
scripts/abi-check.sh $build --update after rebuilding (see docs/ABI.md).$([[ $update -eq 1 ]] && echo ' --update refused.')"
fi

# Compatible (additions only), or a difference abidiff does not report at all.
if [[ $update -eq 1 ]]; then
  cp "$current" "$baseline"
  say "updated $baseline_rel with compatible changes: review and commit it"
  exit 0
fi
if (( rc == 0 )); then
  say "OK: no ABI difference (the baseline text differs only in form; --update would refresh it)"
  exit 0
fi
die "compatible ABI additions are not recorded in $baseline_rel.
Review the report above, then run: scripts/abi-check.sh $build --update (and commit the baseline)"
