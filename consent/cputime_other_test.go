//go:build !unix

package consent_test

import "time"

func cpuTime() time.Duration { return 0 }
