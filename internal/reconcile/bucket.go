package reconcile

import "golang.org/x/time/rate"

// newBucket is the overall retry budget of a queue: 10 per second, bursts
// of 100, as client-go's default controller rate limiter.
func newBucket() *rate.Limiter { return rate.NewLimiter(rate.Limit(10), 100) }
