package menu

// The path of every menu that code names: the one place a menu path is written
// (cmd/routerd TestMenuPathsSpelledOnce fails on a second spelling anywhere in the
// repository's non-test Go code, control/menu included). The declarations, their
// references (Prop.Ref) and the engines name these constants; an engine's own names for
// its menus (firewall.Root4, tftp.Path, link.IfacePath) are these constants under another
// name. A menu that nothing but its declaration names may have its path built there (the
// firewall's tables, "/" + fam + "/firewall/" + table).
const (
	// /certificate
	CertificatePath         = "/certificate"
	CertificateCRLPath      = "/certificate/crl"
	CertificateSettingsPath = "/certificate/settings"

	// /file
	FilePath = "/file"

	// /interface
	InterfacePath           = "/interface"
	SixToFourPath           = "/interface/6to4"
	BridgePath              = "/interface/bridge"
	BridgeMDBPath           = "/interface/bridge/mdb"
	BridgePortPath          = "/interface/bridge/port"
	BridgeSettingsPath      = "/interface/bridge/settings"
	BridgeVLANPath          = "/interface/bridge/vlan"
	EoIPPath                = "/interface/eoip"
	EthernetPath            = "/interface/ethernet"
	GREPath                 = "/interface/gre"
	IPIPPath                = "/interface/ipip"
	InterfaceListPath       = "/interface/list"
	InterfaceListMemberPath = "/interface/list/member"
	VLANPath                = "/interface/vlan"

	// /ip
	Address4Path         = "/ip/address"
	ARPPath              = "/ip/arp"
	DNSPath              = "/ip/dns"
	DNSCachePath         = "/ip/dns/cache"
	DNSCacheAllPath      = "/ip/dns/cache/all"
	DNSStaticPath        = "/ip/dns/static"
	Firewall4Path        = "/ip/firewall"
	AddressList4Path     = "/ip/firewall/address-list"
	Connection4Path      = "/ip/firewall/connection"
	ConnTrackingPath     = "/ip/firewall/connection/tracking"
	Layer7Path           = "/ip/firewall/layer7-protocol"
	ManglePath           = "/ip/firewall/mangle"
	ServicePortPath      = "/ip/firewall/service-port"
	IPsecPath            = "/ip/ipsec"
	IPsecActivePeersPath = "/ip/ipsec/active-peers"
	IPsecIdentityPath    = "/ip/ipsec/identity"
	IPsecInstalledSAPath = "/ip/ipsec/installed-sa"
	IPsecKeyPath         = "/ip/ipsec/key"
	IPsecModeConfigPath  = "/ip/ipsec/mode-config"
	IPsecPeerPath        = "/ip/ipsec/peer"
	IPsecPolicyPath      = "/ip/ipsec/policy"
	IPsecPolicyGroupPath = "/ip/ipsec/policy/group"
	IPsecProfilePath     = "/ip/ipsec/profile"
	IPsecProposalPath    = "/ip/ipsec/proposal"
	IPsecSettingsPath    = "/ip/ipsec/settings"
	IPsecStatisticsPath  = "/ip/ipsec/statistics"
	IPsecUserPath        = "/ip/ipsec/user"
	NeighborPath         = "/ip/neighbor"
	PoolPath             = "/ip/pool"
	PoolUsedPath         = "/ip/pool/used"
	Route4Path           = "/ip/route"
	V6RouteRulePath      = "/ip/route/rule"
	V6PeerProfilePath    = "/ip/ipsec/peer/profile"
	V6UserSettingsPath   = "/ip/ipsec/user/settings"
	ServicePath          = "/ip/service"
	Settings4Path        = "/ip/settings"
	TFTPPath             = "/ip/tftp"
	TFTPSettingsPath     = "/ip/tftp/settings"

	// /ipv6
	Address6Path        = "/ipv6/address"
	Firewall6Path       = "/ipv6/firewall"
	AddressList6Path    = "/ipv6/firewall/address-list"
	Connection6Path     = "/ipv6/firewall/connection"
	NDPath              = "/ipv6/nd"
	NDPrefixPath        = "/ipv6/nd/prefix"
	NDPrefixDefaultPath = "/ipv6/nd/prefix/default"
	Route6Path          = "/ipv6/route"
	Settings6Path       = "/ipv6/settings"

	// /log
	LogPath = "/log"

	// /queue
	SimpleQueuePath = "/queue/simple"
	QueueTypePath   = "/queue/type"

	// /radius
	RadiusPath         = "/radius"
	RadiusIncomingPath = "/radius/incoming"

	// /routing
	RoutingRulePath  = "/routing/rule"
	RoutingTablePath = "/routing/table"

	// /system
	BackupPath            = "/system/backup"
	ClockPath             = "/system/clock"
	ClockManualPath       = "/system/clock/manual"
	HistoryPath           = "/system/history"
	IdentityPath          = "/system/identity"
	LoggingPath           = "/system/logging"
	LoggingActionPath     = "/system/logging/action"
	NotePath              = "/system/note"
	PackagePath           = "/system/package"
	PTPPath               = "/system/ptp"
	PTPPortPath           = "/system/ptp/port"
	PTPStatusPath         = "/system/ptp/status"
	ResourcePath          = "/system/resource"
	RouterboardPath       = "/system/routerboard"
	SchedulerPath         = "/system/scheduler"
	ScriptPath            = "/system/script"
	ScriptEnvironmentPath = "/system/script/environment"
	ScriptJobPath         = "/system/script/job"

	// /tool
	EmailPath = "/tool/e-mail"

	// /user
	UserPath       = "/user"
	UserActivePath = "/user/active"
	UserGroupPath  = "/user/group"
	SSHKeysPath    = "/user/ssh-keys"

	// /user-manager
	UserManagerPath        = "/user-manager"
	UserManagerMonitorPath = "/user-manager/monitor"
	UserManagerRouterPath  = "/user-manager/router"
	UserManagerSessionPath = "/user-manager/session"
	UserManagerUserPath    = "/user-manager/user"
	UserManagerGroupPath   = "/user-manager/user/group"
)
