/**
 * The bubblewrap (`bwrap`) command line that gives an engine its own view of the machine, and
 * the check, once per bwrap binary, that bubblewrap can start here at all.
 *
 * The engine's file system is a fresh, empty root holding only:
 * - `/usr` (with the `/bin`, `/lib`, `/lib64`, `/sbin` links of a merged-/usr system),
 *   `/etc/alternatives` and `/etc/ld.so.cache`, read-only: the engine's installation;
 * - the read-only paths of the request (the scene folder, files the adapter ships) and the files
 *   it hands over by content (e.g. POV-Ray's povray.conf), read-only, at their own paths;
 * - the work folder, writable, at its own path (its parent folders exist but are empty);
 * - a private `/tmp` (a tmpfs of {@link TMP_SIZE_BYTES}), a `/proc` of its own PID namespace and
 *   a minimal `/dev` (null, zero, full, random, urandom, tty, ptmx, pts, shm).
 * It runs as uid/gid 65534 of a new user namespace with no capabilities, in new IPC, UTS,
 * network (loopback only), PID and cgroup namespaces, in a new session, with no environment
 * but the one given, and it is killed (SIGKILL) when the process that started bwrap dies.
 *
 * `--new-session` puts the engine in a session and process group of its own, so the node's
 * SIGTERM/SIGKILL to the run's process group reaches bwrap, not the engine. That is enough:
 * `--die-with-parent` SIGKILLs the engine's PID 1 when bwrap dies, and the kernel then kills
 * every process of that PID namespace (the sandbox tests check that nothing outlives a timeout
 * or a node killed with SIGKILL).
 */
import { execFile } from "node:child_process";
import { FatalError } from "@tessellate/sdk/errors";

/** Where Debian's `bubblewrap` package installs bwrap. */
export const DEFAULT_BWRAP = "/usr/bin/bwrap";
/** The uid and gid the engine runs as inside its user namespace ("nobody"). */
export const SANDBOX_UID = 65534;
/** Size limit of the engine's private /tmp (a tmpfs, so it is memory). */
export const TMP_SIZE_BYTES = 256 * 1024 * 1024;

/** What the engine's installation is: bound read-only into every sandbox. */
const SYSTEM_BINDS = ["/usr", "/etc/alternatives", "/etc/ld.so.cache"];
const MERGED_USR_LINKS: Array<[target: string, link: string]> = [
  ["usr/bin", "/bin"],
  ["usr/lib", "/lib"],
  ["usr/lib64", "/lib64"],
  ["usr/sbin", "/sbin"],
];

export interface BubblewrapLayout {
  /** Folders or files the engine may read, bound read-only at their own paths. */
  readOnlyPaths: string[];
  /** The one writable folder, bound at its own path. */
  workDir: string;
  /** Working directory inside the sandbox. */
  cwd: string;
  /** The engine's whole environment. */
  env: Record<string, string>;
  /**
   * Files given by content, bound read-only at `path`; the content is read by bwrap from the
   * file descriptor `fd` (the caller passes a pipe there).
   */
  dataFiles: Array<{ path: string; fd: number }>;
}

/** `bwrap` and its options, up to and including the `--` before the engine's command. */
export function bubblewrapArguments(bwrap: string, layout: BubblewrapLayout): string[] {
  const args = [
    bwrap,
    "--unshare-all",
    "--unshare-user",
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_UID),
    "--cap-drop",
    "ALL",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
  ];
  for (const [name, value] of Object.entries(layout.env)) args.push("--setenv", name, value);
  for (const path of SYSTEM_BINDS) args.push("--ro-bind-try", path, path);
  for (const [target, link] of MERGED_USR_LINKS) args.push("--symlink", target, link);
  args.push("--proc", "/proc", "--dev", "/dev", "--size", String(TMP_SIZE_BYTES), "--tmpfs", "/tmp");
  // Binds after the tmpfs, so that a scene or work folder below /tmp appears on top of it.
  for (const path of layout.readOnlyPaths) args.push("--ro-bind", path, path);
  args.push("--bind", layout.workDir, layout.workDir);
  for (const file of layout.dataFiles) args.push("--ro-bind-data", String(file.fd), file.path);
  args.push("--chdir", layout.cwd, "--");
  return args;
}

const probes = new Map<string, Promise<string | null>>();

/**
 * Makes sure bubblewrap starts here, once per binary: runs `true` in a sandbox like an
 * engine's. Throws a `FatalError` `SANDBOX_UNAVAILABLE` naming what is missing and how to fix it.
 */
export async function assertBubblewrapWorks(bwrap: string): Promise<void> {
  let probe = probes.get(bwrap);
  if (probe === undefined) {
    probe = probeBubblewrap(bwrap);
    probes.set(bwrap, probe);
  }
  const problem = await probe;
  if (problem !== null) throw new FatalError("SANDBOX_UNAVAILABLE", problem);
}

const OPT_OUT =
  'Only if this machine renders nothing but trusted scenes, set sandbox.isolation to "none" ' +
  "(TESSELLATE_SANDBOX_ISOLATION=none): engines then run WITHOUT isolation and can read every file the node can.";

function probeBubblewrap(bwrap: string): Promise<string | null> {
  const args = bubblewrapArguments(bwrap, { readOnlyPaths: [], workDir: "/tmp", cwd: "/", env: {}, dataFiles: [] });
  // The probe's work folder is the sandbox's own /tmp tmpfs: nothing of the host is bound writable.
  args.splice(args.indexOf("--bind"), 3);
  return new Promise((done) => {
    execFile(args[0]!, [...args.slice(1), "true"], { env: {}, timeout: 15_000 }, (error, _stdout, stderr) => {
      if (error === null) return done(null);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EACCES") {
        return done(
          `Engines run in a bubblewrap sandbox, but ${bwrap} cannot be run (${code}): ` +
            `install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap). ${OPT_OUT}`,
        );
      }
      const said = (stderr || error.message).trim().split("\n").at(-1) ?? "failed";
      if (/unknown option/i.test(said)) {
        return done(`Engines run in a bubblewrap sandbox, but ${bwrap} is too old (${said}): install bubblewrap 0.7 or later. ${OPT_OUT}`);
      }
      done(
        `Engines run in a bubblewrap sandbox, but ${bwrap} could not create one: ${said}. ` +
          "It needs user namespaces: check that user.max_user_namespaces is above 0, that " +
          "kernel.unprivileged_userns_clone=1 where that setting exists, that AppArmor allows bwrap " +
          "(Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns=0 or a bwrap profile), and, in a " +
          `container, that its seccomp profile allows unshare/clone with new namespaces. ${OPT_OUT}`,
      );
    });
  });
}
