// Package redis shares palisade's policies across the replicas of a service
// through Redis.
package redis
