//go:build race

package palisadehttp_test

const raceDetector = true
