package palisadehttp

// DrainWait is drainWait, for the tests.
const DrainWait = drainWait
