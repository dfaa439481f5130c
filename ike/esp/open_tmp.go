package esp

import "context"

// Temporary until the implementations land (same branch, next commits).
func openKernel(ctx context.Context, cfg Config) (Datapath, error) {
	return nil, ErrNotSupported
}
