package redis_test

func replicaMain(role string) int { return 2 }
