package script

import "github.com/routerd/routerd/control/menu"

// ScriptPath is /system/script: the scripts /system script run and the scheduler run
// (both name it from here).
const ScriptPath = menu.ScriptPath
