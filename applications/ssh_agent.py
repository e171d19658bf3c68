"""OpenSSH's agent: ssh-agent holds a key, ssh-add lists it, ssh-keygen signs through it, and the
agent refuses a client of another uid (it asks the kernel who connected: getpeereid, that is
SO_PEERCRED, and drops a peer whose uid is neither its own nor root's).

    nobody$ ssh-agent -D -a agent/agent.sock         (its directory is nobody's)
    nobody$ ssh-add id_ed25519                       "Identity added"; the private key file is then
                                                     deleted, so only the agent can sign
    nobody$ ssh-add -l                               lists the key's fingerprint
    nobody$ ssh-keygen -Y sign -f id_ed25519.pub -n afunix message      signed by the agent
    nobody$ ssh-keygen -Y check-novalidate ...       the signature is good
    daemon$ ssh-add -l     (socket chmod 0666)       refused: the agent closes the connection and
                                                     logs "uid mismatch: peer euid 1 != uid 65534"

Debian's ssh-agent is setgid _ssh; the story runs a copy without that bit, because the loader
ignores LD_PRELOAD for set-id programs (an LD_PRELOAD backend would silently not apply) and
ptrace-based backends cannot trace them."""

import os
import shutil

from conformlib.applications import Application

APP = Application(
    name="ssh-agent",
    summary="ssh-agent with a key: ssh-add -l, a signature through the agent, another uid refused",
    packages=["openssh-client"],
    programs=["/usr/bin/ssh-agent", "/usr/bin/ssh-add", "/usr/bin/ssh-keygen"],
    users=["nobody", "daemon"],
    identities=True,
    related=["Peercred", "Credentials", "Permissions", "Attack"],
)

OWNER, OTHER = "nobody", "daemon"


def story(s):
    shutil.copyfile("/usr/bin/ssh-agent", s.host("ssh-agent"))
    s.host("ssh-agent").chmod(0o755)
    s.mkdir("agent", owner=OWNER, mode=0o755)
    s.mkdir("keys", owner=OWNER, mode=0o700)
    key = s.path("keys/id_ed25519")  # as the programs under the backend name it
    r = s.run("key generated", ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "afunix", "-f",
                                s.host("keys/id_ed25519")], user=OWNER, native=True)
    s.check("key generated", r.returncode == 0, "ssh-keygen makes a key (set-up, natively)", r)
    fingerprint = s.run("fingerprint", ["ssh-keygen", "-lf", s.host("keys/id_ed25519.pub")], user=OWNER,
                        native=True).stdout.split()[1]
    sock = s.path("agent/agent.sock")
    env = {"SSH_AUTH_SOCK": sock}

    agent = s.start("agent listens", [s.path("ssh-agent"), "-D", "-a", sock], user=OWNER,
            ready=lambda line: line.startswith("SSH_AUTH_SOCK="))
    r = s.run("agent starts empty", ["ssh-add", "-l"], user=OWNER, env=env)
    s.check("agent starts empty", r.returncode == 1 and r.says("The agent has no identities."),
            "ssh-add -l: 'The agent has no identities.' (exit 1)", r)
    r = s.run("key added", ["ssh-add", key], user=OWNER, env=env)
    s.check("key added", r.returncode == 0 and r.says("Identity added"), "ssh-add: 'Identity added'", r)
    os.unlink(s.host("keys/id_ed25519"))  # from now on only the agent holds the private key
    r = s.run("key listed", ["ssh-add", "-l"], user=OWNER, env=env)
    s.check("key listed", r.returncode == 0 and fingerprint in r.stdout, f"ssh-add -l lists {fingerprint}", r)

    s.write("keys/message", "signed through the agent\n", owner=OWNER)
    r = s.run("agent signs", ["ssh-keygen", "-Y", "sign", "-f", key + ".pub", "-n", "afunix", s.path("keys/message")],
              user=OWNER, env=env)
    s.check("agent signs", r.returncode == 0 and s.host("keys/message.sig").exists(),
            "ssh-keygen -Y sign with only the public key: the agent made message.sig", r)
    r = s.run("signature verifies", ["ssh-keygen", "-Y", "check-novalidate", "-n", "afunix", "-f",
                                     s.host("keys/id_ed25519.pub"), "-s", s.host("keys/message.sig")],
              user=OWNER, input=s.host("keys/message").read_text(), native=True)
    s.check("signature verifies", r.returncode == 0 and r.says("Good"), "ssh-keygen -Y check-novalidate: Good", r)

    # The socket file lets anyone in; only the agent's own check of the peer's uid remains.
    os.chmod(s.host("agent/agent.sock"), 0o666)
    r = s.run("another uid refused", ["ssh-add", "-l"], user=OTHER, env=env)
    s.refused("another uid refused", r.returncode != 0 and fingerprint not in r.stdout,
              f"{OTHER}'s ssh-add -l " + ("was refused" if r.returncode != 0 else f"listed the key of {OWNER}")
              + f" (exit {r.returncode})")
    s.output("another uid refused", agent)  # the agent's own account of it
