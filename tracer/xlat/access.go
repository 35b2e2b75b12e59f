package xlat

import "golang.org/x/sys/unix"

// accessModeNames are access(2)'s mode bits; 0 is F_OK.
var accessModeNames = []flagName{
	{unix.R_OK, "R_OK"},
	{unix.W_OK, "W_OK"},
	{unix.X_OK, "X_OK"},
}

func accessMode(v uint64) string {
	if cUint(v) == unix.F_OK {
		return "F_OK"
	}
	return formatFlags(cUint(v), accessModeNames, "")
}

// statxMaskNames are statx(2)'s mask bits.
var statxMaskNames = []flagName{
	{unix.STATX_TYPE, "STATX_TYPE"},
	{unix.STATX_MODE, "STATX_MODE"},
	{unix.STATX_NLINK, "STATX_NLINK"},
	{unix.STATX_UID, "STATX_UID"},
	{unix.STATX_GID, "STATX_GID"},
	{unix.STATX_ATIME, "STATX_ATIME"},
	{unix.STATX_MTIME, "STATX_MTIME"},
	{unix.STATX_CTIME, "STATX_CTIME"},
	{unix.STATX_INO, "STATX_INO"},
	{unix.STATX_SIZE, "STATX_SIZE"},
	{unix.STATX_BLOCKS, "STATX_BLOCKS"},
	{unix.STATX_BTIME, "STATX_BTIME"},
	{unix.STATX_MNT_ID, "STATX_MNT_ID"},
	{unix.STATX_DIOALIGN, "STATX_DIOALIGN"},
}

func statxMask(v uint64) string {
	switch cUint(v) {
	case unix.STATX_BASIC_STATS:
		return "STATX_BASIC_STATS"
	case unix.STATX_ALL:
		return "STATX_ALL"
	}
	return formatFlags(cUint(v), statxMaskNames, "")
}

// faccessatFlagNames are faccessat2(2)'s flags: AT_EACCESS shares its value
// with AT_REMOVEDIR, so the generic AT_* table cannot name it.
var faccessatFlagNames = []flagName{
	{unix.AT_EACCESS, "AT_EACCESS"},
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
}

func faccessatFlags(v uint64) string {
	return formatFlags(cUint(v), faccessatFlagNames, "AT_???")
}

// unlinkatFlagNames are unlinkat(2)'s flags: AT_REMOVEDIR's bit is
// AT_EACCESS to faccessat2, so it has a table of its own.
var unlinkatFlagNames = []flagName{
	{unix.AT_REMOVEDIR, "AT_REMOVEDIR"},
}

func unlinkatFlags(v uint64) string {
	return formatFlags(cUint(v), unlinkatFlagNames, "AT_???")
}

// atStatxSyncType masks statx(2)'s sync type (include/uapi/linux/fcntl.h);
// x/sys lacks it.
const atStatxSyncType = 0x6000

// statxFlagNames are statx(2)'s flags besides the sync type.
var statxFlagNames = []flagName{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
	{unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
}

// statxSyncNames are the values of statx(2)'s AT_STATX_SYNC_TYPE field.
var statxSyncNames = []flagName{
	{unix.AT_STATX_SYNC_AS_STAT, "AT_STATX_SYNC_AS_STAT"},
	{unix.AT_STATX_FORCE_SYNC, "AT_STATX_FORCE_SYNC"},
	{unix.AT_STATX_DONT_SYNC, "AT_STATX_DONT_SYNC"},
}

// statxFlags prints the sync type first, always, as strace does:
// AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW.
func statxFlags(v uint64) string {
	v = cUint(v)
	s := formatEnum(v&atStatxSyncType, statxSyncNames, "")
	if rest := v &^ atStatxSyncType; rest != 0 {
		s += "|" + formatFlags(rest, statxFlagNames, "")
	}
	return s
}
