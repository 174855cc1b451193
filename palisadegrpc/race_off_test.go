//go:build !race

package palisadegrpc_test

const raceDetector = false
