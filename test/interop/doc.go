// Package interop drives routerd's management services with clients nobody here wrote:
// python3-librouteros, node-routeros, routeros-client and Ansible's community.routeros
// collection against the RouterOS API, from the host and from network namespaces.
package interop
