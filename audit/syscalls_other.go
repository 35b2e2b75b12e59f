//go:build !amd64 && !arm64

package audit

// nativeArch is unknown here: no SYSCALL record matches, and the Joiner
// holds no event.
const nativeArch = 0

// syscallNumbers is empty on architectures ctrace does not build for.
var syscallNumbers = map[string]int64{}
