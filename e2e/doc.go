// Package e2e holds end-to-end tests that run ptoy as separate processes.
package e2e
