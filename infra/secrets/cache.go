package secrets

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/orderflow/orderflow/domain"
)

// secretCache keeps one secret's last good value for a TTL: the rule every
// secret of orderflow follows (Stripe key, webhook signing secrets, admin
// tokens; SPEC §8, §12). Concurrent misses share one fetch; refresh refetches
// at once for a caller whose credential matched nothing, at most once per
// refreshEvery, so a rotation takes effect without waiting out the TTL.
type secretCache[T any] struct {
	kind         string // singleflight key and error prefix
	clock        domain.Clock
	ttl          time.Duration
	refreshEvery time.Duration
	fetch        func(ctx context.Context) (T, error)

	group       singleflight.Group
	mu          sync.Mutex
	value       T
	fetchedAt   time.Time
	ok          bool
	lastRefresh *refresh
}

// refresh is one refetch; callers inside the interval wait for it rather
// than answering with the value it is replacing.
type refresh struct {
	at   time.Time
	done chan struct{}
}

// get serves the value while it is younger than the TTL (unless force),
// else fetches it once for every concurrent caller. A failed fetch does not
// fall back to an expired value: the TTL is also how long a revoked secret
// may live on. The fetch outlives a caller's cancelled context (up to
// fetchTimeout) so the callers sharing it still get an answer.
func (c *secretCache[T]) get(ctx context.Context, force bool) (T, error) {
	if !force {
		c.mu.Lock()
		value, fresh := c.value, c.ok && c.clock.Now().Sub(c.fetchedAt) < c.ttl
		c.mu.Unlock()
		if fresh {
			return value, nil
		}
	}
	ch := c.group.DoChan(c.kind, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		started := c.clock.Now()
		value, err := c.fetch(fctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.value, c.fetchedAt, c.ok = value, started, true
		c.mu.Unlock()
		return value, nil
	})
	var zero T
	select {
	case res := <-ch:
		if res.Err != nil {
			return zero, res.Err
		}
		return res.Val.(T), nil
	case <-ctx.Done():
		return zero, fmt.Errorf("secrets: %s: %w", c.kind, ctx.Err())
	}
}

// refresh refetches now, unless a refetch started within refreshEvery: then
// it waits for that one and answers from the cache. refetched reports
// whether this call asked AWS.
func (c *secretCache[T]) refresh(ctx context.Context) (value T, refetched bool, err error) {
	c.mu.Lock()
	now := c.clock.Now()
	if r := c.lastRefresh; r != nil && now.Sub(r.at) < c.refreshEvery {
		c.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return value, false, fmt.Errorf("secrets: %s: %w", c.kind, ctx.Err())
		}
		value, err = c.get(ctx, false)
		return value, false, err
	}
	r := &refresh{at: now, done: make(chan struct{})}
	c.lastRefresh = r
	c.mu.Unlock()
	defer close(r.done)
	value, err = c.get(ctx, true)
	return value, true, err
}
