#!/usr/bin/env bash
# The include graph of user/, checked against the rule of its folders.
#
# The graph: a node is a .c or .h file under user/; an edge is a line
# `#include "x.h"` in it, resolved to the file under user/ named x.h.
# Headers found elsewhere (include/, the generated graysplit.skel.h) and
# system headers (<...>) are not nodes.
#
# The rules, each broken one printed on a line of its own:
#   name   an include names a bare file name ("maps.h", no directory) and
#          no two files under user/ share a name: the include path given
#          to each folder by the Makefile is what keeps the rule below;
#   layer  user/core/ includes only core; user/fleet/ core and fleet;
#          user/cli/ core, fleet and cli; user/agent/ core, fleet and agent;
#          user/main.c, the one file at the top, any of them; a file
#          anywhere else is an error;
#   cycle  a module is a base name, x.c and x.h together (so x.c including
#          x.h is no edge); module A depends on B when a file of A includes
#          a file of B; the modules' graph has no cycle. Each cycle found is
#          printed with, for each of its edges, the include that makes it.
#
# Usage: tests/lint/includes.sh [DIR]   (DIR defaults to user/ of this repo)
# Exit status: 0 when the graph keeps every rule, 1 when not, 2 on misuse.
set -euo pipefail

dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)/user}
[ -d "$dir" ] || { echo "includes.sh: no directory '$dir'" >&2; exit 2; }
dir=${dir%/}

list=$(mktemp)
trap 'rm -f "$list"' EXIT
find "$dir" -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort >"$list"
[ -s "$list" ] || { echo "includes.sh: no .c or .h file under $dir" >&2; exit 2; }

# shellcheck disable=SC2046 # file names under user/ have no spaces
LC_ALL=C awk -v root="$dir/" '
# The folder a file is in: core, fleet, cli, agent; "main" for user/main.c; else "?".
function layer(path,   rel) {
	rel = substr(path, length(root) + 1)
	if (index(rel, "/") == 0)
		return rel == "main.c" ? "main" : "?"
	rel = substr(rel, 1, index(rel, "/") - 1)
	return (rel == "core" || rel == "fleet" || rel == "cli" || rel == "agent") ? rel : "?"
}
function base(path) {
	sub(/.*\//, "", path)
	return path
}
function module(path) {
	path = base(path)
	sub(/\.[ch]$/, "", path)
	return path
}
function allowed(from, to) {
	return from == "main" || to == "core" || from == to ||
	       (to == "fleet" && (from == "cli" || from == "agent"))
}
function bad(msg) {
	print msg
	nbad++
}
function show(path) {
	return "user/" substr(path, length(root) + 1)
}
# Depth-first search of the module graph; a back edge closes a cycle made of
# the modules on the stack from its target up.
function dfs(m,   k, t, i, j, line, via) {
	color[m] = 1
	stack[++sp] = m
	for (k = 1; k <= outdeg[m]; k++) {
		t = out[m, k]
		if (color[t] == 1) {
			for (i = sp; i >= 1 && stack[i] != t; i--)
				;
			line = t
			via = ""
			for (j = i + 1; j <= sp; j++) {
				line = line " -> " stack[j]
				via = via "\n    " witness[stack[j - 1], stack[j]]
			}
			line = line " -> " t
			via = via "\n    " witness[m, t]
			bad("cycle: " line via)
			ncycles++
		} else if (!color[t]) {
			dfs(t)
		}
	}
	color[m] = 2
	sp--
}
FNR == NR {
	files[++nfiles] = $0
	b = base($0)
	if (b in byname)
		bad("name: " show(byname[b]) " and " show($0) " share the name " b)
	byname[b] = $0
	if (!(module($0) in seen)) {
		seen[module($0)] = 1
		modules[++nmodules] = module($0)
	}
	if (layer($0) == "?")
		bad("layer: " show($0) " is in no folder of the rule (core, cli, agent; main.c alone at the top)")
	next
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
	name = $0
	sub(/^[ \t]*#[ \t]*include[ \t]*"/, "", name)
	sub(/".*/, "", name)
	where = show(FILENAME) ":" FNR
	if (index(name, "/")) {
		bad("name: " where " includes \"" name "\": headers go by bare name")
		name = base(name)
	}
	if (!(name in byname))
		next
	to = byname[name]
	nedges++
	from_l = layer(FILENAME)
	to_l = layer(to)
	if (from_l != "?" && to_l != "?" && !allowed(from_l, to_l))
		bad("layer: " where " includes " name " (" show(to) "): " from_l " -> " to_l)
	a = module(FILENAME)
	b = module(to)
	if (a != b && !((a, b) in witness)) {
		witness[a, b] = show(FILENAME) ":" FNR " includes " name
		out[a, ++outdeg[a]] = b
	}
}
END {
	for (i = 1; i <= nmodules; i++)
		if (!color[modules[i]])
			dfs(modules[i])
	if (nbad) {
		printf "includes.sh: %d violation(s) of the include rules of user/\n", nbad
		exit 1
	}
	printf "includes.sh: %d files, %d includes between them, %d modules: no cycle, every include within its folder'"'"'s rule\n", nfiles, nedges, nmodules
}
' "$list" $(cat "$list")
