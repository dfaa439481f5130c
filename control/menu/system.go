package menu

import (
	"math"
	"strings"

	"github.com/routerd/routerd/control/value"
)

// scriptPolicies are the policies of RouterOS v7 scripts and scheduler items, in the order
// RouterOS prints them; all ten are the default of /system script and /system scheduler.
var scriptPolicies = []string{
	"ftp", "reboot", "read", "write", "policy", "test", "password", "sniff", "sensitive", "romon",
}

// rightsFrom is kept on scripts and scheduler items whose owner is no user here (an
// imported export's): the user who named that owner, whose rights stand in for the
// owner's (control.OwnerPolicies). Written by the executor only, never exported.
var rightsFrom = Prop{Name: "rights-from", Type: value.String(), ReadOnly: true, Hidden: true,
	Desc: "User whose rights stand in for an owner that is no user here."}

// systemMenus declares /system identity, script (with environment and job), resource,
// backup, scheduler and /log, after console-language.md §8 and 02-system-scheduler.txt.
func systemMenus() []*Menu {
	defaultPolicy := strings.Join(scriptPolicies, ",")
	anyTime := value.Time(0, math.MaxInt64)
	counter := value.Int(0, math.MaxInt64)

	return []*Menu{
		{
			Path:   IdentityPath,
			Engine: "routerd",
			Kind:   Single,
			Props: []Prop{
				{Name: "name", Type: value.String(), Default: "MikroTik",
					Desc: "Name of the router, shown in the prompt and used by network discovery."},
			},
			Desc: "System identity (host name).",
		},
		{
			Path:   ScriptPath,
			Engine: "routerd",
			Kind:   List,
			Props: []Prop{
				// RouterOS names an unnamed script "scriptN" (the first free N) on add.
				{Name: "name", Type: value.String(), Unique: true,
					Desc: "Name of the script (default scriptN)."},
				// Writable because RouterOS exports it; add without it takes the user's name.
				{Name: "owner", Type: value.String(),
					Desc: "User who created the script."},
				rightsFrom,
				{Name: "policy", Type: value.EnumList(scriptPolicies...), Default: defaultPolicy,
					Desc: "Policies the script runs with: ftp, reboot, read, write, policy, test, password, sniff, sensitive, romon."},
				{Name: "dont-require-permissions", Type: value.Bool(), Default: "no",
					Desc: "Run without checking that the caller's policies cover the script's."},
				{Name: "last-started", Type: value.String(), ReadOnly: true,
					Desc: "Date and time the script was last started."},
				{Name: "run-count", Type: counter, ReadOnly: true,
					Desc: "How many times the script has been run since boot."},
				{Name: "source", Type: value.String(), Code: true,
					Desc: "Script source code."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the script."},
				{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true,
					Desc: "The source does not parse."},
			},
			Flags:    []Flag{FlagInvalid},
			Commands: []string{"run"},
			Desc:     "Scripts in the RouterOS scripting language.",
		},
		{
			Path: ScriptEnvironmentPath,
			Kind: Status,
			Props: []Prop{
				{Name: "name", Type: value.String(), ReadOnly: true, Desc: "Name of the global variable."},
				{Name: "user", Type: value.String(), ReadOnly: true, Desc: "User who defined the variable."},
				{Name: "value", Type: value.String(), ReadOnly: true, Desc: "Value of the variable."},
			},
			// remove deletes a global variable.
			Commands: []string{"remove"},
			NoExport: true,
			Desc:     "Global script variables.",
		},
		{
			Path: ScriptJobPath,
			Kind: Status,
			Props: []Prop{
				{Name: "script", Type: value.String(), ReadOnly: true, Desc: "Name of the running script (empty for inline code)."},
				{Name: "owner", Type: value.String(), ReadOnly: true, Desc: "User who started the job."},
				{Name: "policy", Type: value.EnumList(scriptPolicies...), ReadOnly: true, Desc: "Policies the job runs with."},
				{Name: "started", Type: value.String(), ReadOnly: true, Desc: "Date and time the job started."},
				{Name: "type", Type: value.String(), ReadOnly: true, Desc: "Kind of job (script, command, api-login, login...)."},
			},
			// remove stops a job.
			Commands: []string{"remove"},
			NoExport: true,
			Desc:     "Running scripts and :execute jobs.",
		},
		{
			Path:   ResourcePath,
			Engine: "routerd",
			Kind:   Single,
			Props: []Prop{
				{Name: "uptime", Type: anyTime, ReadOnly: true, Desc: "Time since boot."},
				{Name: "version", Type: value.String(), ReadOnly: true, Desc: "Software version."},
				{Name: "build-time", Type: value.String(), ReadOnly: true, Desc: "Date and time the software was built."},
				{Name: "free-memory", Type: counter, ReadOnly: true, Bytes: true, Desc: "Unused memory, bytes."},
				{Name: "total-memory", Type: counter, ReadOnly: true, Bytes: true, Desc: "Total memory, bytes."},
				{Name: "cpu", Type: value.String(), ReadOnly: true, Desc: "CPU model."},
				{Name: "cpu-count", Type: counter, ReadOnly: true, Desc: "Number of CPUs."},
				{Name: "cpu-load", Type: value.Int(0, 100), ReadOnly: true, Desc: "CPU usage, percent."},
				{Name: "free-hdd-space", Type: counter, ReadOnly: true, Bytes: true, Desc: "Free space of the data directory's file system, bytes."},
				{Name: "total-hdd-space", Type: counter, ReadOnly: true, Bytes: true, Desc: "Size of the data directory's file system, bytes."},
				{Name: "architecture-name", Type: value.String(), ReadOnly: true, Desc: "CPU architecture."},
				{Name: "board-name", Type: value.String(), ReadOnly: true, Desc: "Hardware model."},
				{Name: "platform", Type: value.String(), ReadOnly: true, Desc: "Platform name."},
			},
			NoExport: true,
			Desc:     "System resources (read-only).",
		},
		{
			Path:     BackupPath,
			Kind:     Dir,
			Commands: []string{"save", "load"},
			Desc:     "Save and load binary configuration backups (files/NAME.backup).",
		},
		{
			Path: LogPath,
			Kind: Status,
			Props: []Prop{
				{Name: "time", Type: value.String(), ReadOnly: true, Desc: "When the message was logged."},
				{Name: "topics", Type: value.String(), ReadOnly: true, Desc: "Comma list of the message's topics (system,info...)."},
				{Name: "message", Type: value.String(), ReadOnly: true, Desc: "Message text."},
			},
			Columns:  []string{"time", "topics", "message"},
			NoExport: true,
			// `/log info "text"` is :log's menu form: the same line, topics script,LEVEL.
			Commands: []string{"debug", "info", "warning", "error"},
			Desc:     "System log.",
		},
		{
			Path: SchedulerPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the task."},
				// Unset start-date/start-time take the date and time of the add.
				{Name: "start-date", Type: value.Date(),
					Desc: "Date of the first script execution."},
				{Name: "start-time", Type: value.OneOf(value.Enum("startup"), value.TimeOfDay()),
					Desc: "Time of the first script execution; startup runs the script 3 seconds after the system starts."},
				{Name: "interval", Type: anyTime, Default: "0s",
					Desc: "Interval between two executions; 0s runs the script only at its start time."},
				{Name: "on-event", Type: value.String(), Code: true,
					Desc: "Name of the /system script to run, or script source to execute."},
				// Writable because RouterOS exports it; add without it takes the user's name,
				// and only a session with the policy policy may name another (control.own).
				{Name: "owner", Type: value.String(), Desc: "User who added the task."},
				rightsFrom,
				{Name: "policy", Type: value.EnumList(scriptPolicies...), Default: defaultPolicy,
					Desc: "Policies the task runs with; a started script's policies must fit within them."},
				{Name: "run-count", Type: counter, ReadOnly: true,
					Desc: "Incremented each time the script is executed; reset by reboot."},
				{Name: "next-run", Type: value.String(), ReadOnly: true, Desc: "Date and time of the next execution."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the task."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the task is disabled."},
			},
			Flags:   []Flag{FlagDisabled},
			Columns: []string{"name", "on-event", "start-date", "start-time", "interval", "run-count"},
			Desc:    "Runs scripts at a given time, at an interval, or both.",
		},
	}
}
