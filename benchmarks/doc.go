// Package benchmarks compares palisade with failsafe-go and sony/gobreaker
// doing the same work in one process. It is a module of its own so that the
// library never depends on its competitors; it holds only benchmarks. Run
// them with run.sh, which prints a benchstat table with each palisade figure
// against its peer.
package benchmarks
