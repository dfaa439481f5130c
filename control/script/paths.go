package script

// ScriptPath is /system/script: the scripts /system script run and the scheduler run
// (both name it from here).
const ScriptPath = "/system/script"
