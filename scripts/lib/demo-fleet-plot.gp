# The fleet demo's plot: one line per node. Above, the canary share each
# node's maps held (sampled); below, the share of each node's clients'
# requests the canary answered. The canary's fault and the leader's
# decision are marked.
#   gnuplot -c scripts/lib/demo-fleet-plot.gp T0 OUT.png T_FAULT T_DECISION NODES DIR
# DIR/timeline.I come from timeline.py, DIR/shares.I hold "UNIX_TIME
# PERCENT" samples, for I = 1..NODES.
t0 = real(ARG1)
out = ARG2
t_fault = real(ARG3)
t_dec = real(ARG4)
nodes = int(ARG5)
dir = ARG6
tl(i) = sprintf("%s/timeline.%d", dir, i)
sh(i) = sprintf("%s/shares.%d", dir, i)
colour(i) = word("#1b9e77 #d95f02 #7570b3 #e6ab02 #66a61e #a6761d #666666 #e7298a #1f78b4", (i - 1) % 9 + 1)

set terminal pngcairo size 1100,700 font "DejaVu Sans,10"
set output out
set datafile missing "nan"
set multiplot layout 2,1 title "graysplit fleet: one rollout on three nodes, the canary broken at 50%, one decision" font ",12"
set grid ytics lc rgb "#dddddd"
set key top left opaque box lc rgb "#cccccc"
set xrange [0:*]
set offsets 0, 4, 0, 0
set lmargin 10
set rmargin 4
set arrow 1 from t_fault, graph 0 to t_fault, graph 1 nohead lc rgb "#e7298a" lw 1.5 dt 2
set label 1 "canary breaks (503)" at t_fault, graph 0.60 right offset -0.5,0 tc rgb "#e7298a"
set arrow 2 from t_dec, graph 0 to t_dec, graph 1 nohead lc rgb "#333333" lw 1.5
set label 2 sprintf("leader's decision, +%.2f s", t_dec - t_fault) at t_dec, graph 0.80 left offset 0.5,0 tc rgb "#333333"

set ylabel "canary share in the node's maps (%)"
set yrange [0:*]
set format x ""
plot for [i=1:nodes] sh(i) using ($1 - t0):2 with steps lw 2 lc rgb colour(i) title sprintf("node %d", i)

set ylabel "requests the canary answered (%)"
set xlabel "seconds since the apply"
set format x "%g"
set yrange [0:*]
plot for [i=1:nodes] tl(i) using 1:4 with linespoints pt 7 ps 0.5 lw 1.5 lc rgb colour(i) title sprintf("node %d's clients", i)
unset multiplot
