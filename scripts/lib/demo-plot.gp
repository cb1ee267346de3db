# The demo's plot: canary share (set in the maps, and seen by the client) and
# the error rates of canary and stable over time, with the fault and the
# agent's fail-back marked.
#   gnuplot -c scripts/lib/demo-plot.gp TIMELINE.dat SHARES T0 OUT.png T_FAULT T_FAILBACK TITLE
# TIMELINE.dat comes from timeline.py; SHARES holds "UNIX_TIME PERCENT ..."
# samples of the share set in the maps; T0 is the wall-clock time at x = 0.
# T_* are seconds on that axis; a negative one is not drawn.
data = ARG1
shares = ARG2
t0 = real(ARG3)
out = ARG4
t_fault = real(ARG5)
t_back = real(ARG6)
title = ARG7
# The timeline's bin width, from its first two rows.
stats data using 1 every ::0::1 nooutput
bin = STATS_max - STATS_min

set terminal pngcairo size 1100,700 font "DejaVu Sans,10"
set output out
set datafile missing "nan"
set multiplot layout 2,1 title title font ",12"
set grid ytics lc rgb "#dddddd"
set key top left opaque box lc rgb "#cccccc"
set xrange [0:*]
set offsets 0, 4, 0, 0
set lmargin 10
set rmargin 4

if (t_fault >= 0) {
	set arrow 1 from t_fault, graph 0 to t_fault, graph 1 nohead lc rgb "#d95f02" lw 1.5 dt 2
	set label 1 "canary breaks (503)" at t_fault, graph 0.60 right offset -0.5,0 tc rgb "#d95f02"
}
if (t_back >= 0) {
	set arrow 2 from t_back, graph 0 to t_back, graph 1 nohead lc rgb "#1b9e77" lw 1.5
	set label 2 sprintf("agent: fail-back, +%.2f s", t_back - t_fault) at t_back, graph 0.80 left offset 0.5,0 tc rgb "#1b9e77"
}

set ylabel "canary share (%)"
set yrange [0:*]
set format x ""
plot shares using ($1 - t0):2 with steps lw 2 lc rgb "#7570b3" title "share set in the maps (rollout steps)", \
     data using ($1 + bin / 2):4 with points pt 7 ps 0.6 lc rgb "#333333" title "share of requests answered by the canary"

set ylabel "failed requests (%)"
set xlabel "seconds since the rollout was applied"
set format x "%g"
set yrange [0:105]
set key top left
plot data using ($1 + bin / 2):5 with linespoints pt 7 ps 0.5 lw 1.5 lc rgb "#d95f02" title "canary", \
     data using ($1 + bin / 2):6 with linespoints pt 5 ps 0.5 lw 1.5 lc rgb "#1b9e77" title "stable"
unset multiplot
