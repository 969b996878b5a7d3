# Chiaro's Kata agent policy rules.
#
# The Kata agent evaluates data.agent_policy.<RequestName> with the request as input. Every request
# is refused unless a rule below allows it. The generated policy is this text followed by
# `policy_data := {...}`: everything pod-specific (containers, images, processes, mounts, order)
# lives in policy_data, so these rules are the same for every pod.
#
# Each checked request has a `<name>_denials` set: one "rule: field: reason" line per violated
# rule. A request is allowed exactly when that set is empty; `chiaro policy eval` prints the set.
# The rules use only builtins of the agent's regorus build (std, regex, base64). Its regex has no
# Unicode case tables: a `(?i)` pattern never matches, so patterns spell out both cases.
#
# Policy state (data.pstate, JSON-Patch ops applied by the agent after an allowed request):
#   pstate.hostname    the host name CreateSandbox set, tied to the pod name by every container
#   pstate.sandbox     {name, namespace, netns} pinned by the first container request
#   pstate.created     {container name: container id} the latest instance of each container
#   pstate.containers  {container id: container name} containers not yet removed (live)
#   pstate.bundles     {bundle id or container id: container name} the names under
#                      /run/kata-containers/ every container ever used, each by one container
#   pstate.started     {container name: container id} the instance started since its creation,
#                      until a teardown signal to it
#   pstate.volumes     {storage mount point: volume name} the pod volume a block storage serves
#   pstate.copies      {shared entry path: {path below it: record}} what CopyFileRequest wrote
#                      into the entries of pinned volumes (a file's type, size and mode, a
#                      symlink's target)

package agent_policy

# ---------------------------------------------------------------------------------------------
# Requests with no effect on confidentiality or integrity of the workload.
default CloseStdinRequest := true
default DestroySandboxRequest := true
default GetMetricsRequest := true
default GetOOMEventRequest := true
default GetVolumeStatsRequest := true
default GuestDetailsRequest := true
default ListInterfacesRequest := true
default ListRoutesRequest := true
default MemHotplugByProbeRequest := true
default OnlineCPUMemRequest := true
default RemoveStaleVirtiofsShareMountsRequest := true
default ReseedRandomDevRequest := true
default StatsContainerRequest := true
default TtyWinResizeRequest := true
default WaitProcessRequest := true

# Freezing a container's cgroup is a SIGSTOP by another name (the mesh proxy or the volume owner
# frozen with their work half done); the kubelet never sends it.
default PauseContainerRequest := false
default ResumeContainerRequest := false

# Requests that would let the host read from or write into the workload, change the policy,
# the clock, the firewall or the image: refused.
default AddSwapRequest := false
default GetIPTablesRequest := false
default PullImageRequest := false
default ReadStreamRequest := false
default ResizeVolumeRequest := false
default SetGuestDateTimeRequest := false
default SetIPTablesRequest := false
default SetPolicyRequest := false
default StartTracingRequest := false
default StopTracingRequest := false
default UpdateContainerRequest := false
default UpdateEphemeralMountsRequest := false
default WriteStreamRequest := false

# Requests checked by the rules below.
default AddARPNeighborsRequest := false
default CopyFileRequest := false
default CreateContainerRequest := false
default CreateSandboxRequest := false
default ExecProcessRequest := false
default RemoveContainerRequest := false
default SignalProcessRequest := false
default StartContainerRequest := false
default UpdateInterfaceRequest := false
default UpdateRoutesRequest := false

# ---------------------------------------------------------------------------------------------
# Helpers

pstate := object.get(data, "pstate", {})

created := object.get(pstate, "created", {})

live_containers := object.get(pstate, "containers", {})

started := object.get(pstate, "started", {})

volume_bindings := object.get(pstate, "volumes", {})

# The policy entry of a container by name ("sandbox" for the pause container).
policy_entry(name) := policy_data.sandbox if name == "sandbox"

policy_entry(name) := policy_data.containers[name] if name != "sandbox"

# The sandbox the policy state pins; before the first container request, the request's own.
tied_sandbox := object.get(pstate, "sandbox", {})

tied_sandbox_name := object.get(tied_sandbox, "name", sandbox_name)

tied_sandbox_namespace := object.get(tied_sandbox, "namespace", sandbox_namespace)

# The pod's host name: spec.hostname, else the kubelet's: the pod name, cut to 63 characters
# without a trailing "-" or ".".
pod_hostname := policy_data.pod.hostname if is_string(policy_data.pod.hostname)

pod_hostname := kubelet_hostname(tied_sandbox_name) if not is_string(policy_data.pod.hostname)

kubelet_hostname(name) := name if count(name) <= 63

kubelet_hostname(name) := trim_right(substring(name, 0, 63), "-.") if count(name) > 63

# Values of the sandbox that environment rules may name (EnvRule.sandbox_value).
sandbox_value("name") := tied_sandbox_name

sandbox_value("namespace") := tied_sandbox_namespace

sandbox_value("hostname") := pod_hostname

# Bit `bit` (a power of two) of a non-negative integer.
bit_set(value, bit) if floor(value / bit) % 2 == 1

as_set(xs) := {x | some x in xs}

same_set(a, b) if as_set(a) == as_set(b)

# The empty value a protobuf field has when the request omits it.
field(obj, path, empty) := object.get(obj, path, empty)

not_null(x, empty) := empty if x == null

not_null(x, empty) := x if x != null

# JSON pointer token for a key (RFC 6901).
pointer_token(key) := replace(replace(key, "~", "~0"), "/", "~1")

# ---------------------------------------------------------------------------------------------
# CreateContainerRequest

oci := field(input, "OCI", {})

annotations := not_null(field(oci, "Annotations", {}), {})

container_type := object.get(annotations, "io.kubernetes.cri.container-type", "")

container_name := object.get(annotations, "io.kubernetes.cri.container-name", "")

bundle_path := object.get(annotations, "io.katacontainers.pkg.oci.bundle_path", "")

bundle_id := substring(bundle_path, count(policy_data.platform.bundle_path_prefix), -1) if {
	startswith(bundle_path, policy_data.platform.bundle_path_prefix)
	regex.match(`^[a-z0-9]+$`, substring(bundle_path, count(policy_data.platform.bundle_path_prefix), -1))
}

request_container_id := field(input, "container_id", "")

container_id := request_container_id if request_container_id != ""

container_id := bundle_id if {
	request_container_id == ""
	bundle_id
}

# The policy entry a request is for: the pod's sandbox (pause) container or a named container.
container_key := "sandbox" if container_type == "sandbox"

container_key := container_name if container_type == "container"

policy_container := policy_data.sandbox if container_type == "sandbox"

policy_container := policy_data.containers[container_name] if container_type == "container"

sandbox_name := object.get(annotations, "io.kubernetes.cri.sandbox-name", "")

sandbox_namespace := object.get(annotations, "io.kubernetes.cri.sandbox-namespace", "")

request_namespaces := not_null(field(oci, ["Linux", "Namespaces"], []), [])

request_netns := [ns.Path | some ns in request_namespaces; ns.Type == "network"]

CreateContainerRequest := {"allowed": true, "ops": create_container_ops} if {
	count(create_container_denials) == 0
}

create_container_denials contains msg if {
	not container_type in {"sandbox", "container"}
	msg := sprintf("container: OCI.Annotations[io.kubernetes.cri.container-type]: %q is neither sandbox nor container", [container_type])
}

create_container_denials contains msg if {
	container_type == "container"
	not policy_data.containers[container_name]
	msg := sprintf("container: OCI.Annotations[io.kubernetes.cri.container-name]: %q is not a container of this pod", [container_name])
}

create_container_denials contains msg if {
	not bundle_id
	msg := sprintf("container: OCI.Annotations[io.katacontainers.pkg.oci.bundle_path]: %q is not a bundle directory of the runtime", [bundle_path])
}

# A root file system serves one container: a second container on an earlier one's bundle would run
# its pinned command in the other image.
create_container_denials contains msg if {
	object.get(object.get(pstate, "bundles", {}), bundle_id, null) != null
	msg := sprintf("root: OCI.Annotations[io.katacontainers.pkg.oci.bundle_path]: bundle %q is already used by container %q", [bundle_id, pstate.bundles[bundle_id]])
}

# The agent runs a container from /run/kata-containers/<container id>/rootfs when that exists
# (the image is pulled to /run/kata-containers/<bundle id>/rootfs): an id naming another
# container's bundle or id would run this container's pinned command in the other's image. So
# each id and bundle id names one container of the sandbox, ever (pstate.bundles holds both),
# and an id is a plain name (as the agent's own check).
create_container_denials contains msg if {
	container_id != bundle_id
	used_by := object.get(object.get(pstate, "bundles", {}), container_id, null)
	used_by != null
	msg := sprintf("container: container_id: %q is already used by container %q", [container_id, used_by])
}

create_container_denials contains msg if {
	not regex.match(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`, container_id)
	msg := sprintf("container: container_id: %q is not a container id", [container_id])
}

# Order and restarts: one live instance of each container, created after the containers it
# must follow. A container whose instance was removed (it ended) may be created again.
create_container_denials contains msg if {
	previous := created[container_key]
	live_containers[previous]
	msg := sprintf("order: container %q: its instance %q is still live", [container_key, previous])
}

create_container_denials contains msg if {
	some before in object.get(policy_container, "after", [])
	not created[before]
	msg := sprintf("order: container %q: must not start before %q was created", [container_key, before])
}

# The pod: its name, namespace and network namespace are fixed by the first container request.
create_container_denials contains msg if {
	not regex.match(policy_data.pod.name_regex, sandbox_name)
	msg := sprintf("pod: OCI.Annotations[io.kubernetes.cri.sandbox-name]: %q is not a name of this workload's pods", [sandbox_name])
}

create_container_denials contains msg if {
	not regex.match(policy_data.pod.namespace_regex, sandbox_namespace)
	msg := sprintf("pod: OCI.Annotations[io.kubernetes.cri.sandbox-namespace]: %q is not this workload's namespace", [sandbox_namespace])
}

create_container_denials contains msg if {
	pstate.sandbox.name != sandbox_name
	msg := sprintf("pod: OCI.Annotations[io.kubernetes.cri.sandbox-name]: %q differs from the sandbox's %q", [sandbox_name, pstate.sandbox.name])
}

create_container_denials contains msg if {
	pstate.sandbox.namespace != sandbox_namespace
	msg := sprintf("pod: OCI.Annotations[io.kubernetes.cri.sandbox-namespace]: %q differs from the sandbox's %q", [sandbox_namespace, pstate.sandbox.namespace])
}

# The host name: the pod's, which CreateSandbox set (pstate.hostname).
create_container_denials contains msg if {
	hostname := object.get(pstate, "hostname", null)
	hostname != null
	hostname != pod_hostname
	msg := sprintf("pod: OCI.Annotations[io.kubernetes.cri.sandbox-name]: the sandbox's host name %q is not pod %q's (%q)", [hostname, tied_sandbox_name, pod_hostname])
}

create_container_denials contains msg if {
	hostname := not_null(field(oci, "Hostname", ""), "")
	hostname != ""
	hostname != pod_hostname
	msg := sprintf("pod: OCI.Hostname: %q is not the pod's host name %q", [hostname, pod_hostname])
}

create_container_denials contains msg if {
	some key, value in annotations
	not annotation_allowed(key, value)
	msg := sprintf("annotations: OCI.Annotations[%s]: not allowed for this container", [key])
}

annotation_allowed(key, value) if {
	some pattern in policy_data.platform.annotation_key_patterns
	regex.match(pattern, key)
}

annotation_allowed(key, value) if {
	object.get(object.get(policy_data.pod, "pinned_annotations", {}), key, null) == value
}

annotation_allowed(key, value) if {
	key == "io.kubernetes.cri.image-name"
	value in policy_container.images
}

annotation_allowed(key, value) if {
	some device in object.get(policy_container, "devices", [])
	regex.match(device.annotation_key_regex, key)
	regex.match(device.annotation_value_regex, value)
}

create_container_denials contains msg if {
	log_dir := object.get(annotations, "io.kubernetes.cri.sandbox-log-directory", "")
	log_dir != ""
	not startswith(log_dir, sprintf("/var/log/pods/%s_%s_", [sandbox_namespace, sandbox_name]))
	msg := "pod: OCI.Annotations[io.kubernetes.cri.sandbox-log-directory]: not the directory of this sandbox"
}

# Network namespace: the first container request that names one fixes it for the pod; later
# requests name the same or none (a container without one joins the sandbox's).
pinned_netns := object.get(object.get(pstate, "sandbox", {}), "netns", "")

create_container_denials contains msg if {
	count(request_netns) > 1
	msg := "namespaces: OCI.Linux.Namespaces: more than one network namespace"
}

create_container_denials contains msg if {
	some path in request_netns
	path == ""
	msg := "namespaces: OCI.Linux.Namespaces[network]: a new network namespace is not the pod's"
}

create_container_denials contains msg if {
	some path in request_netns
	pinned_netns != ""
	path != pinned_netns
	msg := sprintf("namespaces: OCI.Linux.Namespaces[network]: %q is not the pod's network namespace %q", [path, pinned_netns])
}

create_container_denials contains msg if {
	container_type == "sandbox"
	pinned_netns != ""
	count(request_netns) == 0
	msg := sprintf("namespaces: OCI.Linux.Namespaces[network]: missing; the pod's is %q", [pinned_netns])
}

create_container_denials contains msg if {
	some ns in request_namespaces
	ns.Type != "network"
	not {"Type": ns.Type, "Path": ns.Path} in policy_data.platform.namespaces
	msg := sprintf("namespaces: OCI.Linux.Namespaces[%s]: %q is not allowed", [ns.Type, ns.Path])
}

create_container_denials contains msg if {
	some ns in policy_data.platform.namespaces
	not ns in {{"Type": n.Type, "Path": n.Path} | some n in request_namespaces}
	msg := sprintf("namespaces: OCI.Linux.Namespaces[%s]: missing", [ns.Type])
}

create_container_denials contains msg if {
	field(input, "sandbox_pidns", false) != policy_data.pod.share_process_namespace
	msg := "namespaces: sandbox_pidns: differs from the pod's shareProcessNamespace"
}

# Process
process := not_null(field(oci, "Process", {}), {})

create_container_denials contains msg if {
	field(process, "Args", []) != policy_container.process.args
	msg := sprintf("process: OCI.Process.Args: %v is not the pinned command %v", [field(process, "Args", []), policy_container.process.args])
}

create_container_denials contains msg if {
	field(process, "Cwd", "") != policy_container.process.cwd
	msg := sprintf("process: OCI.Process.Cwd: %q is not the pinned working directory %q", [field(process, "Cwd", ""), policy_container.process.cwd])
}

create_container_denials contains msg if {
	field(process, "Terminal", false) != policy_container.process.terminal
	msg := "process: OCI.Process.Terminal: differs from the container's tty setting"
}

create_container_denials contains msg if {
	field(process, "NoNewPrivileges", false) != policy_container.process.no_new_privileges
	msg := "process: OCI.Process.NoNewPrivileges: differs from the container's allowPrivilegeEscalation"
}

create_container_denials contains msg if {
	some denial in process_common_denials(process, policy_container.process, "OCI.Process")
	msg := denial
}

# A missing capabilities object is not an empty one: the agent then keeps every capability.
create_container_denials contains msg if {
	field(process, "Capabilities", null) == null
	msg := "capabilities: OCI.Process.Capabilities: missing; the agent would drop no capability"
}

create_container_denials contains msg if {
	not object.get(policy_container, "privileged", false)
	some set in ["Ambient", "Bounding", "Effective", "Inheritable", "Permitted"]
	requested := not_null(field(process, ["Capabilities", set], []), [])
	not same_set(requested, policy_container.process.capabilities[set])
	msg := sprintf("capabilities: OCI.Process.Capabilities.%s: %v is not the pinned set %v", [set, requested, policy_container.process.capabilities[set]])
}

# The volume owner is privileged (Kubernetes allows the mount propagation it needs only there):
# containerd gives it the capabilities the host kernel knows, so each set may hold any of the
# pinned ones (every capability Linux has); its pinned binary drops what it does not use.
create_container_denials contains msg if {
	object.get(policy_container, "privileged", false)
	some set in ["Ambient", "Bounding", "Effective", "Inheritable", "Permitted"]
	requested := as_set(not_null(field(process, ["Capabilities", set], []), []))
	unknown := requested - as_set(policy_container.process.capabilities[set])
	count(unknown) > 0
	msg := sprintf("capabilities: OCI.Process.Capabilities.%s: %v are not in the pinned sets", [set, unknown])
}

create_container_denials contains msg if {
	some denial in env_denials(request_env, policy_container.process.env, "OCI.Process.Env")
	msg := denial
}

create_container_denials contains msg if {
	some rule in policy_container.process.env
	rule.required
	not env_rule_satisfied(rule, request_env)
	msg := sprintf("env: OCI.Process.Env: %s is missing", [rule.name])
}

request_env := env_variables(field(process, "Env", []))

# Each `NAME=value` entry split once: {name, value}; an entry without "=" has no value.
env_variables(env) := [variable |
	some entry in not_null(env, [])
	name := split(entry, "=")[0]
	variable := env_variable(entry, name)
]

env_variable(entry, name) := {"name": name, "value": substring(entry, count(name) + 1, -1)} if {
	contains(entry, "=")
} else := {"name": name}

# Required rules name their variable.
env_rule_satisfied(rule, variables) if {
	some variable in variables
	variable.name == rule.name
	env_value_ok(rule, variable.value)
}

# A value the rule allows: pinned, a pattern, or this sandbox's name, namespace or host name
# (values the kubelet derives from the pod).
env_value_ok(rule, value) if {
	rule.value == value
} else if {
	regex.match(rule.value_regex, value)
} else if {
	value == sandbox_value(rule.sandbox_value)
}

env_denials(variables, rules, where) := {msg |
	some variable in variables
	not env_allowed(variable, rules)
	msg := sprintf("env: %s: %s is not allowed with this value", [where, variable.name])
} | {msg |
	names := [variable.name | some variable in variables]
	count(names) != count(as_set(names))
	some i, name in names
	some j, other in names
	i < j
	name == other
	msg := sprintf("env: %s: %s is set twice", [where, name])
}

# A variable the pod spec or image names by name only takes its pinned value; patterns for
# platform variables (service links) cannot override it.
env_allowed(variable, rules) if {
	some rule in rules
	rule.name == variable.name
	env_value_ok(rule, variable.value)
} else := false if {
	some rule in rules
	rule.name == variable.name
} else if {
	some rule in rules
	regex.match(rule.name_regex, variable.name)
	regex.match(rule.value_regex, variable.value)
}

process_user(p) := not_null(field(p, "User", {}), {})

# Fields shared by container processes and exec processes.
process_common_denials(p, pinned, where) := {msg |
	user := process_user(p)
	field(user, "UID", 0) != pinned.user.uid
	msg := sprintf("user: %s.User.UID: %v is not the pinned %v", [where, field(user, "UID", 0), pinned.user.uid])
} | {msg |
	user := process_user(p)
	field(user, "GID", 0) != pinned.user.gid
	msg := sprintf("user: %s.User.GID: %v is not the pinned %v", [where, field(user, "GID", 0), pinned.user.gid])
} | {msg |
	user := process_user(p)
	gids := not_null(field(user, "AdditionalGids", []), [])
	not same_set(gids, pinned.user.additional_gids)
	msg := sprintf("user: %s.User.AdditionalGids: %v is not the pinned %v", [where, gids, pinned.user.additional_gids])
} | {msg |
	user := process_user(p)
	field(user, "Username", "") != ""
	msg := sprintf("user: %s.User.Username: a user name is not resolved by the policy", [where])
} | {msg |
	field(p, "SelinuxLabel", "") != ""
	msg := sprintf("process: %s.SelinuxLabel: must be empty", [where])
} | {msg |
	not field(p, "ApparmorProfile", "") in policy_data.platform.apparmor_profiles
	msg := sprintf("process: %s.ApparmorProfile: %q is not allowed", [where, field(p, "ApparmorProfile", "")])
} | {msg |
	field(input, "string_user", null) != null
	msg := "user: string_user: must not be set"
}

# Root file system: the image's, pulled and checked in the guest, at the runtime's path.
create_container_denials contains msg if {
	expected := sprintf("%s%s/rootfs", [policy_data.platform.guest_container_dir, bundle_id])
	field(oci, ["Root", "Path"], "") != expected
	msg := sprintf("root: OCI.Root.Path: %q is not %q", [field(oci, ["Root", "Path"], ""), expected])
}

create_container_denials contains msg if {
	field(oci, ["Root", "Readonly"], false) != policy_container.read_only_root
	msg := "root: OCI.Root.Readonly: differs from readOnlyRootFilesystem"
}

create_container_denials contains msg if {
	hooks := not_null(field(oci, "Hooks", {}), {})
	some kind, list in hooks
	count(not_null(list, [])) > 0
	msg := sprintf("hooks: OCI.Hooks.%s: OCI hooks are not allowed", [kind])
}

linux := not_null(field(oci, "Linux", {}), {})

request_sysctls := not_null(field(linux, "Sysctl", {}), {})

create_container_denials contains msg if {
	some name, value in request_sysctls
	object.get(policy_data.pod.sysctls, name, null) != value
	msg := sprintf("sysctl: OCI.Linux.Sysctl[%s]: %q is not allowed", [name, value])
}

# The runtime sets the pod's sysctls on the sandbox container (the others share its namespaces).
create_container_denials contains msg if {
	container_type == "sandbox"
	some name in policy_data.pod.required_sysctls
	object.get(request_sysctls, name, null) == null
	msg := sprintf("sysctl: OCI.Linux.Sysctl[%s]: missing; the pod sets it", [name])
}

# What the kubelet, containerd and the Kata runtime never send, or send fixed.
create_container_denials contains msg if {
	count(not_null(field(input, "shared_mounts", []), [])) > 0
	msg := "mounts: shared_mounts: moving one container's mounts into another is not allowed"
}

create_container_denials contains msg if {
	field(linux, "Seccomp", null) != null
	msg := "linux: OCI.Linux.Seccomp: a seccomp filter is not allowed (the runtime strips the pod's; the host's could fake system calls)"
}

# containerd sets the root's propagation only for a container with a propagating mount: `rshared`
# for the volume owner, `rslave` for a container that mounts an encrypted volume's directory.
create_container_denials contains msg if {
	requested := not_null(field(linux, "RootfsPropagation", ""), "")
	requested != object.get(policy_container, "rootfs_propagation", "")
	msg := sprintf("linux: OCI.Linux.RootfsPropagation: %q is not %q", [requested, object.get(policy_container, "rootfs_propagation", "")])
}

create_container_denials contains msg if {
	rules := not_null(field(linux, ["Resources", "Devices"], []), [])
	count(rules) > 0
	not privileged_device_rules(rules)
	msg := "devices: OCI.Linux.Resources.Devices: device cgroup rules are not allowed (the agent allows a container's own devices)"
}

# containerd allows every device to a privileged container (the volume owner), which needs the
# device-mapper control node and the mappings it creates; that one allow-all rule, for it alone.
privileged_device_rules(rules) if {
	object.get(policy_container, "privileged", false)
	count(rules) == 1
	rule := rules[0]
	field(rule, "Allow", false) == true
	field(rule, "Access", "") == "rwm"
	not_null(field(rule, "Type", ""), "") in {"", "a"}
	not_null(field(rule, "Major", null), null) == null
	not_null(field(rule, "Minor", null), null) == null
}

create_container_denials contains msg if {
	count(not_null(field(process, "Rlimits", []), [])) > 0
	msg := sprintf("process: OCI.Process.Rlimits: %v; containerd sets none", [field(process, "Rlimits", [])])
}

# A missing value is protobuf's 0, which the agent applies.
create_container_denials contains msg if {
	value := not_null(field(process, "OOMScoreAdj", 0), 0)
	not oom_score_adj_ok(value, policy_container.oom_score_adj)
	msg := sprintf("process: OCI.Process.OOMScoreAdj: %v is not a value the kubelet gives this pod %v", [value, [sprintf("%v..%v", [r.min, r.max]) | some r in policy_container.oom_score_adj]])
}

oom_score_adj_ok(value, ranges) if {
	is_number(value)
	some range in ranges
	value >= range.min
	value <= range.max
}

# containerd masks nothing for a privileged container; any path masked or made read-only there
# is the host's (a masked workload secret would be read as empty).
create_container_denials contains msg if {
	object.get(policy_container, "privileged", false)
	some kind in ["MaskedPaths", "ReadonlyPaths"]
	count(not_null(field(oci, ["Linux", kind], []), [])) > 0
	msg := sprintf("paths: OCI.Linux.%s: %v; containerd sets none for the privileged volume owner", [kind, field(oci, ["Linux", kind], [])])
}

create_container_denials contains msg if {
	not object.get(policy_container, "privileged", false)
	some kind in ["MaskedPaths", "ReadonlyPaths"]
	requested := not_null(field(oci, ["Linux", kind], []), [])
	missing := as_set(policy_data.platform[kind]) - as_set(requested)
	count(missing) > 0
	msg := sprintf("paths: OCI.Linux.%s: %v must be included", [kind, missing])
}

# Mounts: each requested mount is one the container may have; no destination twice.
mounts := not_null(field(oci, "Mounts", []), [])

create_container_denials contains msg if {
	some mount in mounts
	not mount_allowed(mount)
	msg := sprintf("mounts: OCI.Mounts[%s]: %s mount from %q with options %v is not allowed", [field(mount, "destination", ""), field(mount, "type_", ""), field(mount, "source", ""), field(mount, "options", [])])
}

create_container_denials contains msg if {
	count(mounts) != count({mount.destination | some mount in mounts})
	some i, a in mounts
	some j, b in mounts
	i < j
	a.destination == b.destination
	msg := sprintf("mounts: OCI.Mounts[%s]: mounted twice", [a.destination])
}

# Presence: every mount of the pod spec is in the request (a left-out /chiaro, Secret or
# emptyDir would leave the image's directory, or nothing, in its place).
create_container_denials contains msg if {
	some rule in policy_container.mounts
	rule.required
	not mount_present(rule)
	msg := sprintf("mounts: OCI.Mounts[%s]: missing; the pod spec mounts volume %q there", [rule.destination, object.get(rule, "volume", "")])
}

mount_present(rule) if {
	some mount in mounts
	mount.destination == rule.destination
	mount_matches(rule, mount)
}

allowed_mounts := array.concat(policy_container.mounts, policy_data.platform.mounts[container_type])

# The allowed mounts by destination, so each requested mount is compared with its own only.
allowed_mounts_at := {destination: [allowed | some allowed in allowed_mounts; allowed.destination == destination] |
	some mount in allowed_mounts
	destination := mount.destination
}

mount_allowed(mount) if {
	some allowed in allowed_mounts_at[field(mount, "destination", "")]
	mount_matches(allowed, mount)
}

mount_matches(allowed, mount) if {
	allowed.destination == mount.destination
	allowed.type == field(mount, "type_", "")
	regex.match(replace(allowed.source_regex, "$(bundle-id)", bundle_id), field(mount, "source", ""))
	options := as_set(field(mount, "options", []))
	as_set(allowed.options) - options == set()
	options - as_set(allowed.options) - as_set(object.get(allowed, "optional_options", [])) == set()
	mount_storage_ok(allowed, mount)
}

mount_storage_ok(allowed, mount) if not allowed.storage

# A mount of a pod volume backed by guest storage must come from a storage of this request.
mount_storage_ok(allowed, mount) if {
	some storage in storages
	storage.mount_point == mount.source
	storage_matches(storage, allowed.storage)
}

# A block emptyDir's storage serves one volume for the sandbox's life: a host cannot show one
# volume's data at another volume's mount, in this container or a later one.
block_volume_sources := {{"volume": rule.volume, "source": mount.source} |
	some rule in policy_container.mounts
	rule.storage == "emptydir_encrypted"
	some mount in mounts
	mount.destination == rule.destination
}

create_container_denials contains msg if {
	some a in block_volume_sources
	some b in block_volume_sources
	a.volume == b.volume
	a.source < b.source
	msg := sprintf("mounts: OCI.Mounts: volume %q is mounted from two storages, %q and %q", [a.volume, a.source, b.source])
}

create_container_denials contains msg if {
	some a in block_volume_sources
	some b in block_volume_sources
	a.source == b.source
	a.volume < b.volume
	msg := sprintf("mounts: OCI.Mounts: storage %q serves two volumes, %q and %q", [a.source, a.volume, b.volume])
}

create_container_denials contains msg if {
	some a in block_volume_sources
	bound := volume_bindings[a.source]
	bound != a.volume
	msg := sprintf("mounts: OCI.Mounts: storage %q serves volume %q in this sandbox, not %q", [a.source, bound, a.volume])
}

# Storages: the image, pulled in the guest, and pod volumes of the kinds the pod declares.
storages := not_null(field(input, "storages", []), [])

create_container_denials contains msg if {
	some storage in storages
	not storage_allowed(storage)
	msg := sprintf("storages: storages[%s]: %s storage of %q is not allowed", [field(storage, "mount_point", ""), field(storage, "driver", ""), field(storage, "source", "")])
}

storage_allowed(storage) if {
	storage.driver == "image_guest_pull"
	storage.source in policy_container.images
	storage.mount_point == sprintf("%s%s/rootfs", [policy_data.platform.guest_container_dir, bundle_id])
	field(storage, "fstype", "") == "overlay"
	count(not_null(field(storage, "options", []), [])) == 0
}

storage_allowed(storage) if {
	some allowed in policy_container.mounts
	storage_matches(storage, allowed.storage)
}

storage_matches(storage, kind) if {
	template := policy_data.platform.storages[kind]
	field(storage, "driver", "") == template.driver
	field(storage, "fstype", "") == template.fstype
	not_null(field(storage, "driver_options", []), []) == template.driver_options
	same_set(not_null(field(storage, "options", []), []), template.options)
	regex.match(template.source_regex, field(storage, "source", ""))
	storage_mount_point_ok(storage, template)
	storage_fs_group_ok(storage)
}

storage_mount_point_ok(storage, template) if {
	template.mount_point == "block"
	storage.mount_point == sprintf("%s/%s", [policy_data.platform.block_storage_dir, base64.encode(storage.source)])
}

storage_mount_point_ok(storage, template) if {
	template.mount_point != "block"
	regex.match(template.mount_point, storage.mount_point)
}

storage_fs_group_ok(storage) if field(storage, "fs_group", null) == null

storage_fs_group_ok(storage) if {
	policy_data.pod.fs_group != null
	storage.fs_group.group_id == policy_data.pod.fs_group
}

# Devices: only the GPUs the container asks for, each named by its CDI annotation, and the
# encrypted volumes' block devices at their paths.
requested_devices := not_null(field(input, "devices", []), [])

block_devices := object.get(policy_container, "block_devices", [])

create_container_denials contains msg if {
	count(object.get(policy_container, "devices", [])) == 0
	count(block_devices) == 0
	count(requested_devices) > 0
	msg := "devices: devices: this container has no devices"
}

# A hot-plugged block device: the agent makes its node at the path, from the device the id
# names (the host's choice; a device that is not the volume's does not open with its key).
create_container_denials contains msg if {
	count(object.get(policy_container, "devices", [])) == 0
	some requested in requested_devices
	not block_device_ok(requested)
	msg := sprintf("devices: devices[%s]: not an encrypted volume's device of this container", [field(requested, "container_path", "")])
}

block_device_ok(requested) if {
	some device in block_devices
	field(requested, "container_path", "") == device.path
	field(requested, "type_", "") in policy_data.platform.block_device_types
	count(not_null(field(requested, "options", []), [])) == 0
}

# The OCI spec names the block devices the container has (the agent sets their numbers); no
# other device node.
create_container_denials contains msg if {
	some node in not_null(field(oci, ["Linux", "Devices"], []), [])
	not device_node_ok(node)
	msg := sprintf("devices: OCI.Linux.Devices[%s]: device nodes are not allowed but an encrypted volume's block device", [field(node, "Path", "")])
}

device_node_ok(node) if {
	some device in block_devices
	field(node, "Path", "") == device.path
	field(node, "Type", "") == "b"
	some requested in requested_devices
	field(requested, "container_path", "") == device.path
}

create_container_denials contains msg if {
	nodes := not_null(field(oci, ["Linux", "Devices"], []), [])
	some i, a in nodes
	some j, b in nodes
	i < j
	field(a, "Path", "") == field(b, "Path", "")
	msg := sprintf("devices: OCI.Linux.Devices[%s]: listed twice", [field(a, "Path", "")])
}

# Each encrypted volume's device the container has is there (the runtime keeps a device
# attached while a container holding it lives).
create_container_denials contains msg if {
	some device in block_devices
	not block_device_requested(device)
	msg := sprintf("devices: devices[%s]: missing; the container has the encrypted volume %q", [device.path, device.volume])
}

block_device_requested(device) if {
	some requested in requested_devices
	field(requested, "container_path", "") == device.path
	some node in not_null(field(oci, ["Linux", "Devices"], []), [])
	field(node, "Path", "") == device.path
}

create_container_denials contains msg if {
	some device in object.get(policy_container, "devices", [])
	keys := {key | some key, _ in annotations; regex.match(device.annotation_key_regex, key)}
	count(keys) != device.count
	msg := sprintf("devices: OCI.Annotations: %d annotations match %s, the container asks for %d", [count(keys), device.annotation_key_regex, device.count])
}

create_container_denials contains msg if {
	some device in object.get(policy_container, "devices", [])
	some requested in requested_devices
	not device_request_ok(device, requested)
	not block_device_ok(requested)
	msg := sprintf("devices: devices[%s]: not a device named by a CDI annotation", [field(requested, "container_path", "")])
}

create_container_denials contains msg if {
	some i, a in requested_devices
	some j, b in requested_devices
	i < j
	a.container_path == b.container_path
	msg := sprintf("devices: devices[%s]: requested twice", [a.container_path])
}

device_request_ok(device, requested) if {
	requested.type_ == device.type
	startswith(requested.container_path, device.path_prefix)
	suffix := substring(requested.container_path, count(device.path_prefix), -1)
	regex.match(`^[0-9]+$`, suffix)
	annotations[sprintf("%s%s", [device.annotation_key_prefix, suffix])]
}

# State after an allowed CreateContainerRequest. A new instance is not started yet.
create_container_ops := array.concat(
	array.concat(array.concat(init_ops, sandbox_ops), array.concat(restart_ops, volume_ops)),
	[
		{"op": "add", "path": sprintf("/pstate/created/%s", [pointer_token(container_key)]), "value": container_id},
		{"op": "add", "path": sprintf("/pstate/containers/%s", [pointer_token(container_id)]), "value": container_key},
		{"op": "add", "path": sprintf("/pstate/bundles/%s", [pointer_token(bundle_id)]), "value": container_key},
		{"op": "add", "path": sprintf("/pstate/bundles/%s", [pointer_token(container_id)]), "value": container_key},
	],
)

init_ops := [op |
	some key in ["created", "containers", "bundles", "started", "volumes"]
	not pstate[key]
	op := {"op": "add", "path": sprintf("/pstate/%s", [key]), "value": {}}
]

restart_ops := [{"op": "remove", "path": sprintf("/pstate/started/%s", [pointer_token(container_key)])}] if {
	started[container_key]
} else := []

volume_ops := [op |
	some a in block_volume_sources
	not volume_bindings[a.source]
	op := {"op": "add", "path": sprintf("/pstate/volumes/%s", [pointer_token(a.source)]), "value": a.volume}
]

sandbox_ops := [] if pinned_netns != ""

sandbox_ops := [{"op": "add", "path": "/pstate/sandbox", "value": {"name": sandbox_name, "namespace": sandbox_namespace, "netns": netns}}] if {
	pinned_netns == ""
	netns := concat("", request_netns)
}

# ---------------------------------------------------------------------------------------------
# StartContainerRequest: only a live container of this pod, and a container that follows others
# only once they were started: an init container since its latest creation, a native sidecar
# (the mesh proxy) in an instance that is still live. So the workload does not start while the
# initializer or the mesh proxy was never started, or after the mesh proxy was killed or
# removed. (Defence in depth: the workload's pinned entrypoint waits for the proxy itself.)

StartContainerRequest := {"allowed": true, "ops": start_container_ops} if {
	count(start_container_denials) == 0
}

start_container_id := field(input, "container_id", "")

start_container_denials contains msg if {
	not live_containers[start_container_id]
	msg := sprintf("start: container_id: %q is not a live container of this pod", [start_container_id])
}

start_container_denials contains msg if {
	name := live_containers[start_container_id]
	some before in object.get(policy_entry(name), "after", [])
	not running_before(before)
	msg := sprintf("order: container %q: must not start before %q was started%s", [name, before, sidecar_note(before)])
}

running_before(name) if {
	started[name]
	not policy_data.containers[name].sidecar
}

running_before(name) if {
	policy_data.containers[name].sidecar
	live_containers[started[name]]
}

sidecar_note(name) := " and is running" if {
	policy_data.containers[name].sidecar
} else := ""

start_container_ops := array.concat(
	[op | not pstate.started; op := {"op": "add", "path": "/pstate/started", "value": {}}],
	[{"op": "add", "path": sprintf("/pstate/started/%s", [pointer_token(live_containers[start_container_id])]), "value": start_container_id}],
)

# ---------------------------------------------------------------------------------------------
# SignalProcessRequest: only to a live container of this pod. Chiaro's initializer and mesh
# proxy take only the teardown signals, to their own process (exec_id empty for all of the
# container's processes, or the container's id); such a signal ends the started instance, so
# the containers after it do not start until it is created and started again.

SignalProcessRequest := {"allowed": true, "ops": signal_process_ops} if {
	count(signal_process_denials) == 0
}

signal_container_id := field(input, "container_id", "")

signal_rules := policy_entry(live_containers[signal_container_id])

signal_process_denials contains msg if {
	not live_containers[signal_container_id]
	msg := sprintf("signal: container_id: %q is not a live container of this pod", [signal_container_id])
}

signal_process_denials contains msg if {
	allowed := object.get(signal_rules, "signals", null)
	allowed != null
	not field(input, "signal", 0) in allowed
	msg := sprintf("signal: signal: %v to container %q is not a teardown signal %v", [field(input, "signal", 0), live_containers[signal_container_id], allowed])
}

signal_process_denials contains msg if {
	object.get(signal_rules, "signals", null) != null
	not field(input, "exec_id", "") in {"", signal_container_id}
	msg := sprintf("signal: exec_id: %q is not container %q's own process", [field(input, "exec_id", ""), live_containers[signal_container_id]])
}

signal_process_ops := [{"op": "remove", "path": sprintf("/pstate/started/%s", [pointer_token(name)])}] if {
	object.get(signal_rules, "signals", null) != null
	name := live_containers[signal_container_id]
	started[name] == signal_container_id
} else := []

# ---------------------------------------------------------------------------------------------
# RemoveContainerRequest: the container is no longer live (it stays "created").

RemoveContainerRequest := {"allowed": true, "ops": ops} if {
	live_containers[input.container_id]
	ops := [{"op": "remove", "path": sprintf("/pstate/containers/%s", [pointer_token(input.container_id)])}]
}

RemoveContainerRequest := true if not live_containers[input.container_id]

# ---------------------------------------------------------------------------------------------
# ExecProcessRequest: only the commands of the container's probes and lifecycle hooks, with the
# container's own user, environment and working directory.

exec_process := not_null(field(input, "process", {}), {})

exec_container_name := live_containers[input.container_id]

exec_container := policy_data.sandbox if exec_container_name == "sandbox"

exec_container := policy_data.containers[exec_container_name] if exec_container_name != "sandbox"

ExecProcessRequest if count(exec_process_denials) == 0

exec_process_denials contains msg if {
	not exec_container
	msg := sprintf("exec: container_id: %q is not a live container of this pod", [field(input, "container_id", "")])
}

exec_process_denials contains msg if {
	exec_container
	not field(exec_process, "Args", []) in exec_container.exec
	msg := sprintf("exec: process.Args: %v is not a probe or hook command of container %q", [field(exec_process, "Args", []), exec_container_name])
}

exec_process_denials contains msg if {
	exec_container
	field(exec_process, "Cwd", "") != exec_container.process.cwd
	msg := sprintf("exec: process.Cwd: %q is not the container's working directory", [field(exec_process, "Cwd", "")])
}

exec_process_denials contains msg if {
	field(exec_process, "Terminal", false) != false
	msg := "exec: process.Terminal: no terminal for exec"
}

exec_process_denials contains msg if {
	field(exec_process, "NoNewPrivileges", false) != exec_container.process.no_new_privileges
	msg := "exec: process.NoNewPrivileges: differs from the container's"
}

exec_process_denials contains msg if {
	field(exec_process, "Capabilities", null) != null
	msg := "exec: process.Capabilities: an exec process inherits the container's capabilities"
}

exec_process_denials contains msg if {
	some denial in process_common_denials(exec_process, exec_container.process, "process")
	msg := denial
}

exec_process_denials contains msg if {
	some denial in env_denials(env_variables(field(exec_process, "Env", [])), exec_container.process.env, "process.Env")
	msg := denial
}

# ---------------------------------------------------------------------------------------------
# CreateSandboxRequest

CreateSandboxRequest := {"allowed": true, "ops": create_sandbox_ops} if {
	count(create_sandbox_denials) == 0
}

sandbox_hostname := not_null(field(input, "hostname", ""), "")

create_sandbox_ops := [{"op": "add", "path": "/pstate/hostname", "value": sandbox_hostname}] if {
	sandbox_hostname != ""
} else := []

# The host name the guest takes: this pod's, which every container's request then ties to the
# pod's name (pstate.hostname). Before any container, only its form is known. An empty one
# leaves the guest image's own, which the host does not choose.
create_sandbox_denials contains msg if {
	sandbox_hostname != ""
	not sandbox_hostname_allowed(sandbox_hostname)
	msg := sprintf("sandbox: hostname: %q is not a host name of this workload's pods", [sandbox_hostname])
}

create_sandbox_denials contains msg if {
	object.get(pstate, "hostname", null) != null
	msg := "sandbox: the sandbox was already created"
}

sandbox_hostname_allowed(hostname) if {
	is_string(policy_data.pod.hostname)
	hostname == policy_data.pod.hostname
}

sandbox_hostname_allowed(hostname) if {
	not is_string(policy_data.pod.hostname)
	count(hostname) <= 63
	regex.match(policy_data.pod.name_regex, hostname)
}

# A longer pod name the kubelet cut (63 characters, less a trailing "-" or "."); tied exactly to
# the pod's name by the first container request, before which nothing runs.
sandbox_hostname_allowed(hostname) if {
	not is_string(policy_data.pod.hostname)
	count(hostname) >= 56
	count(hostname) <= 63
	regex.match(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`, hostname)
}

create_sandbox_denials contains msg if {
	field(input, "sandbox_pidns", false) != policy_data.pod.share_process_namespace
	msg := "sandbox: sandbox_pidns: differs from the pod's shareProcessNamespace"
}

create_sandbox_denials contains msg if {
	count(not_null(field(input, "kernel_modules", []), [])) > 0
	msg := "sandbox: kernel_modules: loading kernel modules is not allowed"
}

create_sandbox_denials contains msg if {
	field(input, "guest_hook_path", "") != ""
	msg := "sandbox: guest_hook_path: guest hooks are not allowed"
}

create_sandbox_denials contains msg if {
	some storage in not_null(field(input, "storages", []), [])
	not storage in policy_data.platform.sandbox_storages
	msg := sprintf("sandbox: storages[%s]: not allowed", [field(storage, "mount_point", "")])
}

# ---------------------------------------------------------------------------------------------
# CopyFileRequest: files the runtime shares into a container (hosts, resolv.conf, volumes),
# only below a container's shared directory, never into a root file system, no way out.

copy_path := field(input, "path", "")

copy_relative := substring(copy_path, count(prefix), -1) if {
	some prefix_regex in policy_data.platform.copy_file_prefix_regexes
	prefix := regex.find_n(prefix_regex, copy_path, 1)[0]
}

CopyFileRequest := {"allowed": true, "ops": copy_file_ops} if count(copy_file_denials) == 0

copy_file_denials contains msg if {
	not copy_relative
	msg := sprintf("copyfile: path: %q is not below a container's shared directory", [copy_path])
}

copy_file_denials contains msg if {
	some part in split(copy_path, "/")
	part in {".", ".."}
	msg := sprintf("copyfile: path: %q has a . or .. component", [copy_path])
}

copy_file_denials contains msg if {
	not field(input, "file_type", "") in {"Regular", "Directory", "Symlink"}
	msg := sprintf("copyfile: file_type: %q is not a file, directory or symlink", [field(input, "file_type", "")])
}

copy_file_denials contains msg if {
	field(input, "file_type", "") == "Symlink"
	copy_relative
	not contains(copy_relative, "/")
	msg := "copyfile: path: a symlink cannot be a container's top-level shared entry"
}

copy_file_denials contains msg if {
	field(input, "file_type", "") == "Symlink"
	target := field(input, "symlink_target", "")
	not symlink_target_ok(target)
	msg := sprintf("copyfile: symlink_target: %q leaves its directory", [target])
}

# Shared volumes are mounted without nosuid: no set-user-ID or set-group-ID file, and owners
# only among the pod's own users and groups (or root). A directory may be set-group-ID (the
# kubelet sets it for fsGroup).
copy_file_uids := {0, policy_data.sandbox.process.user.uid} | {c.process.user.uid | some c in policy_data.containers}

copy_file_gids := ({0} | {g | some g in policy_data.sandbox.process.user.additional_gids}) | {g | some c in policy_data.containers; some g in c.process.user.additional_gids}

copy_file_denials contains msg if {
	not field(input, "uid", 0) in copy_file_uids
	msg := sprintf("copyfile: uid: %v is not a user of this pod", [field(input, "uid", 0)])
}

copy_file_denials contains msg if {
	not field(input, "gid", 0) in copy_file_gids
	msg := sprintf("copyfile: gid: %v is not a group of this pod", [field(input, "gid", 0)])
}

copy_file_denials contains msg if {
	some key in ["file_mode", "dir_mode"]
	mode := not_null(field(input, key, 0), 0)
	not is_number(mode)
	msg := sprintf("copyfile: %s: %v is not a mode", [key, mode])
}

copy_file_denials contains msg if {
	field(input, "file_type", "") != "Symlink"
	bit_set(not_null(field(input, "file_mode", 0), 0), 2048)
	msg := "copyfile: file_mode: set-user-ID is not allowed"
}

copy_file_denials contains msg if {
	field(input, "file_type", "") == "Regular"
	bit_set(not_null(field(input, "file_mode", 0), 0), 1024)
	msg := "copyfile: file_mode: set-group-ID is not allowed on a file"
}

copy_file_denials contains msg if {
	bit_set(not_null(field(input, "dir_mode", 0), 0), 2048)
	msg := "copyfile: dir_mode: set-user-ID is not allowed"
}

symlink_target_ok(target) if {
	target != ""
	not startswith(target, "/")
	every part in split(target, "/") {
		part != ".."
	}
}

# ---------------------------------------------------------------------------------------------
# CopyFileRequest into a pinned volume: the files of the ConfigMap, Secret, downward-API and
# projected volumes the pod spec mounts (policy_data.copy_volumes). The runtime copies a volume
# to the shared entry <container id>-<16 hex>-<mount point's last component>: the entry itself,
# the kubelet's timestamped directory ..<timestamp> with the files, ..data -> ..<timestamp>, and
# each user-visible name -> ..data/name. The agent hands the policy no file content (no `data`),
# so a file is pinned by its path, type, size and mode. Each regular file is written once;
# ..data may point only to a timestamped directory that holds every pinned file and nothing
# else; pstate.copies records what each entry received, and CreateContainerRequest requires a
# mount of a pinned volume to show an entry that received exactly that volume.

copy_volumes := object.get(policy_data, "copy_volumes", {"data_dir_regex": "^$", "volumes": {}, "entries": {}})

copies := object.get(pstate, "copies", {})

copy_type := field(input, "file_type", "")

copy_target := not_null(field(input, "symlink_target", ""), "")

copy_size := field(input, "file_size", 0)

copy_perm := not_null(field(input, "file_mode", 0), 0) % 4096

# The request's shared entry: its name, its path, the path below it ("" for the entry itself).
copy_entry_name := split(copy_relative, "/")[0]

copy_entry_path := substring(copy_path, 0, (count(copy_path) - count(copy_relative)) + count(copy_entry_name))

copy_rest := substring(copy_relative, count(copy_entry_name) + 1, -1) if contains(copy_relative, "/")

copy_rest := "" if {
	copy_relative
	not contains(copy_relative, "/")
}

copy_parts := split(copy_rest, "/")

# The pinned volumes mounted under this entry name; undefined for other entries.
copy_candidates := copy_volumes.entries[copy_entry_name]

copy_entry := object.get(copies, copy_entry_path, {})

copy_data_dir(name) if regex.match(copy_volumes.data_dir_regex, name)

copy_in_data_dir if {
	copy_rest != ""
	copy_data_dir(copy_parts[0])
}

copy_inner := concat("/", array.slice(copy_parts, 1, count(copy_parts))) if {
	copy_in_data_dir
	count(copy_parts) > 1
}

copy_size_ok(rule, size) if not is_number(object.get(rule, "size", null))

copy_size_ok(rule, size) if size == rule.size

# What one volume's layout admits.
copy_matches(layout) if {
	copy_rest == ""
	copy_type == "Directory"
}

copy_matches(layout) if {
	copy_in_data_dir
	count(copy_parts) == 1
	copy_type == "Directory"
}

copy_matches(layout) if {
	copy_inner in layout.dirs
	copy_type == "Directory"
}

copy_matches(layout) if {
	rule := layout.files[copy_inner]
	copy_type == "Regular"
	copy_size_ok(rule, copy_size)
	copy_perm in rule.modes
	field(input, "offset", 0) == 0
}

copy_matches(layout) if {
	copy_rest == "..data"
	copy_type == "Symlink"
	copy_data_dir(copy_target)
	copy_complete(copy_entry, layout, copy_target)
}

copy_matches(layout) if {
	count(copy_parts) == 1
	copy_rest in layout.top
	copy_type == "Symlink"
	copy_target == concat("/", ["..data", copy_rest])
}

# An entry's timestamped directory `dir` holds every file of `layout`, as pinned, and no other.
copy_complete(entry, layout, dir) if {
	every path, rule in layout.files {
		record := entry[concat("/", [dir, path])]
		record.type == "Regular"
		copy_size_ok(rule, record.size)
		record.mode in rule.modes
	}
	every path, record in entry {
		copy_outside_or_in(layout, dir, path)
	}
}

copy_outside_or_in(layout, dir, path) if not startswith(path, concat("", [dir, "/"]))

copy_outside_or_in(layout, dir, path) if layout.files[substring(path, count(dir) + 1, -1)]

copy_volume_list := concat(" or ", [sprintf("%q", [v]) | some v in copy_candidates])

copy_file_denials contains msg if {
	copy_candidates
	not copy_candidate_matches
	msg := sprintf("volumes: path: %s %q of shared entry %q is not what the pod spec projects into volume %s", [copy_type, copy_rest, copy_entry_name, copy_volume_list])
}

copy_candidate_matches if {
	some volume in copy_candidates
	copy_matches(copy_volumes.volumes[volume])
}

# The reasons, for the files the pod spec does project.
copy_file_denials contains msg if {
	copy_candidates
	not copy_candidate_matches
	some volume in copy_candidates
	rule := copy_volumes.volumes[volume].files[copy_inner]
	not copy_size_ok(rule, copy_size)
	msg := sprintf("volumes: file_size: %v bytes is not the %v of %q in volume %q", [copy_size, rule.size, copy_inner, volume])
}

copy_file_denials contains msg if {
	copy_candidates
	not copy_candidate_matches
	some volume in copy_candidates
	rule := copy_volumes.volumes[volume].files[copy_inner]
	not copy_perm in rule.modes
	msg := sprintf("volumes: file_mode: %o is not a mode %v of %q in volume %q", [copy_perm, rule.modes, copy_inner, volume])
}

copy_file_denials contains msg if {
	copy_candidates
	copy_rest == "..data"
	not copy_candidate_matches
	msg := sprintf("volumes: symlink_target: %q is no timestamped directory holding exactly the files of volume %s", [copy_target, copy_volume_list])
}

# A content-pinned volume (every file a ConfigMap's or Secret's) was checked by the start gate,
# SHA-256 by SHA-256, when the container started; the policy sees no bytes, so its ..data is
# never pointed anywhere else: a changed ConfigMap or Secret needs a new policy.
copy_file_denials contains msg if {
	copy_candidates
	copy_rest == "..data"
	copy_entry["..data"]
	some volume in copy_candidates
	copy_volumes.volumes[volume].content_pinned
	msg := sprintf("volumes: path: ..data of shared entry %q was already delivered; the content of volume %q is pinned (its start gates checked it), so it is not re-pointed: a change needs a new policy", [copy_entry_name, volume])
}

# Written once: a file of a pinned volume delivered again could change after it was checked.
copy_file_denials contains msg if {
	copy_candidates
	copy_type == "Regular"
	copy_entry[copy_rest]
	msg := sprintf("volumes: path: %q of shared entry %q was already delivered; a pinned file is written once", [copy_rest, copy_entry_name])
}

copy_file_ops := [] if not copy_candidates

copy_file_ops := array.concat(
	[op | not pstate.copies; op := {"op": "add", "path": "/pstate/copies", "value": {}}],
	array.concat(
		[op | not copies[copy_entry_path]; op := {"op": "add", "path": sprintf("/pstate/copies/%s", [pointer_token(copy_entry_path)]), "value": {}}],
		[{"op": "add", "path": sprintf("/pstate/copies/%s/%s", [pointer_token(copy_entry_path), pointer_token(copy_rest)]), "value": copy_record}],
	),
) if {
	copy_candidates
	copy_record
}

copy_file_ops := [] if {
	copy_candidates
	not copy_record
}

copy_record := {"type": "Regular", "size": copy_size, "mode": copy_perm} if copy_type == "Regular"

copy_record := {"type": "Symlink", "target": copy_target} if copy_type == "Symlink"

# CreateContainerRequest: a mount of a pinned volume shows an entry that received exactly that
# volume (so no file is missing, none added, and no other volume's entry stands in for it).
pinned_volume_mounts contains [rule, mount] if {
	some rule in policy_container.mounts
	copy_volumes.volumes[rule.volume]
	some mount in mounts
	mount.destination == rule.destination
}

create_container_denials contains msg if {
	some [rule, mount] in pinned_volume_mounts
	entry := object.get(copies, field(mount, "source", ""), {})
	not copy_data_dir(object.get(object.get(entry, "..data", {}), "target", ""))
	msg := sprintf("volumes: OCI.Mounts[%s]: volume %q was not delivered to %q (no ..data)", [rule.destination, rule.volume, field(mount, "source", "")])
}

create_container_denials contains msg if {
	some [rule, mount] in pinned_volume_mounts
	entry := object.get(copies, field(mount, "source", ""), {})
	dir := entry["..data"].target
	not copy_complete(entry, copy_volumes.volumes[rule.volume], dir)
	msg := sprintf("volumes: OCI.Mounts[%s]: %q does not hold exactly the files of volume %q", [rule.destination, field(mount, "source", ""), rule.volume])
}

create_container_denials contains msg if {
	some [rule, mount] in pinned_volume_mounts
	entry := object.get(copies, field(mount, "source", ""), {})
	entry["..data"]
	some name in copy_volumes.volumes[rule.volume].top
	object.get(entry, name, {}) != {"type": "Symlink", "target": concat("/", ["..data", name])}
	msg := sprintf("volumes: OCI.Mounts[%s]: %q of volume %q was not delivered", [rule.destination, name, rule.volume])
}

create_container_denials contains msg if {
	some [rule, mount] in pinned_volume_mounts
	entry := object.get(copies, field(mount, "source", ""), {})
	some name, record in entry
	record.type == "Symlink"
	name != "..data"
	not name in copy_volumes.volumes[rule.volume].top
	msg := sprintf("volumes: OCI.Mounts[%s]: %q is no file of volume %q", [rule.destination, name, rule.volume])
}

# ---------------------------------------------------------------------------------------------
# Network configuration by the host: never the loopback device, loopback addresses or MACs that
# would impersonate the guest's own.

UpdateInterfaceRequest if count(update_interface_denials) == 0

update_interface_denials contains msg if {
	interface := field(input, "interface", {})
	field(interface, "name", "") in policy_data.platform.network.forbidden_devices
	msg := sprintf("interface: interface.name: %q is not allowed", [field(interface, "name", "")])
}

# A MAC compared by its bytes: the agent parses each part as hex, so `0:0:0:0:0:0` and
# `00:00:00:00:00:00` name the same (loopback's) address.
mac_bytes(mac) := [trim_left(part, "0") | some part in split(lower(mac), ":")]

update_interface_denials contains msg if {
	interface := field(input, "interface", {})
	some forbidden in policy_data.platform.network.forbidden_hw_addrs
	mac_bytes(field(interface, "hwAddr", "")) == mac_bytes(forbidden)
	msg := sprintf("interface: interface.hwAddr: %q is not allowed", [field(interface, "hwAddr", "")])
}

update_interface_denials contains msg if {
	interface := field(input, "interface", {})
	not field(interface, "raw_flags", 0) in policy_data.platform.network.interface_raw_flags
	msg := sprintf("interface: interface.raw_flags: %v is not allowed", [field(interface, "raw_flags", 0)])
}

update_interface_denials contains msg if {
	some address in not_null(field(input, ["interface", "IPAddresses"], []), [])
	is_loopback(field(address, "address", ""))
	msg := sprintf("interface: interface.IPAddresses[].address: %q is a loopback address", [field(address, "address", "")])
}

# A loopback address, also as a prefix (`127.0.0.0/8`) or IPv4-mapped.
is_loopback(text) if {
	some pattern in policy_data.platform.network.loopback_address_regexes
	regex.match(pattern, split(text, "/")[0])
}

UpdateRoutesRequest if count(update_routes_denials) == 0

update_routes_denials contains msg if {
	some route in not_null(field(input, ["routes", "Routes"], []), [])
	field(route, "device", "") in policy_data.platform.network.forbidden_devices
	msg := sprintf("routes: routes.Routes[].device: %q is not allowed", [field(route, "device", "")])
}

update_routes_denials contains msg if {
	some route in not_null(field(input, ["routes", "Routes"], []), [])
	some key in ["source", "dest", "gateway"]
	is_loopback(not_null(field(route, key, ""), ""))
	msg := sprintf("routes: routes.Routes[].%s: %q is a loopback address", [key, field(route, key, "")])
}

AddARPNeighborsRequest if count(add_arp_neighbors_denials) == 0

add_arp_neighbors_denials contains msg if {
	some neighbor in not_null(field(input, ["neighbors", "ARPNeighbors"], []), [])
	field(neighbor, "device", "") in policy_data.platform.network.forbidden_devices
	msg := sprintf("arp: neighbors[].device: %q is not allowed", [field(neighbor, "device", "")])
}

add_arp_neighbors_denials contains msg if {
	some neighbor in not_null(field(input, ["neighbors", "ARPNeighbors"], []), [])
	is_loopback(not_null(field(neighbor, ["toIPAddress", "address"], ""), ""))
	msg := sprintf("arp: neighbors[].toIPAddress: %q is a loopback address", [field(neighbor, ["toIPAddress", "address"], "")])
}

add_arp_neighbors_denials contains msg if {
	some neighbor in not_null(field(input, ["neighbors", "ARPNeighbors"], []), [])
	not field(neighbor, "state", 0) in policy_data.platform.network.arp_states
	msg := sprintf("arp: neighbors[].state: %v is not allowed", [field(neighbor, "state", 0)])
}

add_arp_neighbors_denials contains msg if {
	some neighbor in not_null(field(input, ["neighbors", "ARPNeighbors"], []), [])
	not field(neighbor, "flags", 0) in policy_data.platform.network.arp_flags
	msg := sprintf("arp: neighbors[].flags: %v is not allowed", [field(neighbor, "flags", 0)])
}
