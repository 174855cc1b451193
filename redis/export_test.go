package redis

// TrialGateOpen reports what the local breaker's TrialGate would answer
// now, without waking the worker.
func TrialGateOpen(s *Breaker) bool { return s.gate.Load() }
