package control

// The /user menus the executor reads to check a session's policy; control/user (their
// engine) names them from here.
const (
	UserPath      = "/user"
	UserGroupPath = "/user/group"
)

// LogPath is /log: the executor leaves its items out of change notifications.
const LogPath = "/log"
