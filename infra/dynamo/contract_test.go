package dynamo_test

import (
	"testing"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/dynamo"
	"github.com/orderflow/orderflow/infra/storetest"
)

// TestStoreContract runs the domain.Store contract against dynalite, one
// fresh table per store so every run starts empty.
func TestStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) domain.Store {
		return setup(t, dynamo.Config{}).store
	})
}
