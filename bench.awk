# Turns `go test -bench -benchmem` output into one table. Each benchmark's
# first variant is its baseline; "ratio" is ns/op over the baseline's, so the
# comparison is always between numbers measured in this same run.
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	split(name, parts, "/"); group = parts[1]; variant = (parts[2] == "" ? "-" : parts[2])
	ns = ""; bytes = ""; allocs = ""
	for (i = 2; i <= NF; i++) {
		if ($(i) == "ns/op") ns = $(i-1)
		if ($(i) == "B/op") bytes = $(i-1)
		if ($(i) == "allocs/op") allocs = $(i-1)
	}
	if (!(group in base)) { base[group] = ns; order[++n] = group }
	rows[group] = rows[group] sprintf("  %-26s %-26s %14.0f %8.3f %10s %10s\n", group, variant, ns, ns / base[group], bytes, allocs)
}
END {
	if (n == 0) { print "no benchmark ran"; exit 1 }
	printf "  %-26s %-26s %14s %8s %10s %10s\n", "benchmark", "variant", "ns/op", "ratio", "B/op", "allocs/op"
	for (i = 1; i <= n; i++) printf "%s", rows[order[i]]
}
