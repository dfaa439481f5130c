package control

import "github.com/routerd/routerd/control/menu"

// The /user menus the executor reads to check a session's policy; control/user (their
// engine) names them from here.
const (
	UserPath      = menu.UserPath
	UserGroupPath = menu.UserGroupPath
)

// LogPath is /log: the executor leaves its items out of change notifications.
const LogPath = menu.LogPath
