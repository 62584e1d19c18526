//go:build unix

package shard_test

import "syscall"

var syscallKill = syscall.SIGKILL
