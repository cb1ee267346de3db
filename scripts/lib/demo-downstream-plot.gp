# The downstream demo's plot: above, the canary's share (set in the maps,
# and of the requests the client sent, by the backend that answered);
# below, the database's call latency p95 of the canary's and the stable
# backends' calls, with the fault and the agent's fail-back marked.
#   gnuplot -c scripts/lib/demo-downstream-plot.gp TIMELINE.dat SAMPLES T0 OUT.png T_FAULT T_FAILBACK TITLE FAULT
# TIMELINE.dat comes from timeline.py; SAMPLES holds "UNIX_TIME PERCENT
# CANARY_P95 STABLE_P95 CANARY_CALLS_S STABLE_CALLS_S FRAME_TIME" rows, one
# per frame of `graysplit top --downstream --interval 0.5` (p95 in ms over
# the frame's interval, "nan" when a group made no call; UNIX_TIME is the
# interval's middle, FRAME_TIME its end, when the share set was read);
# T0 is the wall-clock time at x = 0, T_* seconds on that axis (a negative
# one is not drawn); FAULT names the fault for its label.
data = ARG1
samples = ARG2
t0 = real(ARG3)
out = ARG4
t_fault = real(ARG5)
t_back = real(ARG6)
title = ARG7
fault = ARG8
stats data using 1 every ::0::1 nooutput
bin = STATS_max - STATS_min
# One x range for both panels: to the last frame or request, whichever is later.
stats data using 1 nooutput
x_end = STATS_max + bin
stats samples using ($7 - t0) nooutput
x_end = ceil(STATS_max > x_end ? STATS_max : x_end)

set terminal pngcairo size 1100,700 font "DejaVu Sans,10"
set output out
set datafile missing "nan"
set multiplot layout 2,1 title title font ",12"
set grid ytics lc rgb "#dddddd"
set key top left opaque box lc rgb "#cccccc"
set xrange [0:x_end]
# Room above the lines for the key and the labels.
set offsets 0, 0, graph 0.35, 0
set lmargin 10
set rmargin 4

if (t_fault >= 0) {
	set arrow 1 from t_fault, graph 0 to t_fault, graph 1 nohead lc rgb "#d95f02" lw 1.5 dt 2
	set label 1 sprintf("canary: %s", fault) at t_fault, graph 0.60 right offset -0.5,0 tc rgb "#d95f02"
}
if (t_back >= 0) {
	set arrow 2 from t_back, graph 0 to t_back, graph 1 nohead lc rgb "#1b9e77" lw 1.5
	set label 2 sprintf("agent: fail-back, +%.2f s", t_back - t_fault) at t_back, graph 0.80 left offset 0.5,0 tc rgb "#1b9e77"
}

set ylabel "canary share (%)"
set yrange [0:*]
set format x ""
plot samples using ($7 - t0):2 with steps lw 2 lc rgb "#7570b3" title "share set in the maps", \
     data using ($1 + bin / 2):4 with points pt 7 ps 0.6 lc rgb "#333333" title "requests answered by the canary (per 0.5 s)"

set ylabel "database call p95 (ms)"
set xlabel "seconds since the load started"
set format x "%g"
set yrange [0:*]
plot samples using ($1 - t0):3 with linespoints pt 7 ps 0.5 lw 1.5 lc rgb "#d95f02" title "canary's calls (p95 over each 0.5 s)", \
     samples using ($1 - t0):4 with linespoints pt 5 ps 0.5 lw 1.5 lc rgb "#1b9e77" title "stable's calls (p95 over each 0.5 s)"
unset multiplot
