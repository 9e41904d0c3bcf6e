"""The templates in deploy/ for the engines operators already run (GitHub Actions, Kubernetes, a container
image): each validated by the tool of its engine, each documented, and every mirrord command line in them
accepted by mirrord's own argument parser."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gitservers import free_port, git_daemon
from mirrord.cli import build_parser
from mirrord.config import load_config

from daemon_run import health, wait_for
from fixture_site import populate
from httpsite import Site
from mirror_run import bare_repository, git, write_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
WORKFLOWS = sorted((DEPLOY / "github-actions").glob("*.yml"))
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONFIG_IN_POD = "/etc/mirrord/config.toml"
IMAGE_ENV = "MIRRORD_TEST_IMAGE"  # an image built from the Containerfile (.ci/run builds one when it can)


def test_every_template_is_validated_here_and_documented():
    validated = {*WORKFLOWS, *MANIFESTS, CONTAINERFILE}
    files = {path for path in DEPLOY.rglob("*") if path.is_file()}
    assert files - validated == set(), "a file in deploy/ that no test validates"
    docs = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)
    undocumented = [str(path.relative_to(ROOT)) for path in sorted(files) if str(path.relative_to(ROOT)) not in docs]
    assert undocumented == [], "templates the docs do not name"


def actionlint() -> str:
    """Return the actionlint binary the test extra installs beside this Python."""
    found = shutil.which("actionlint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert found, "actionlint is missing: pip install -e '.[test]'"
    return found


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_passes_actionlint(workflow):
    run = subprocess.run([actionlint(), "-no-color", "-oneline", str(workflow)], capture_output=True, text=True)
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The check above can fail: a workflow with an unknown context is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOWS[0].read_text(encoding="utf-8").replace("matrix.mirror }}", "matrix.mirrors }}"))
    run = subprocess.run([actionlint(), "-no-color", "-oneline", str(broken)], capture_output=True, text=True)
    assert run.returncode == 1 and "mirrors" in run.stdout


def workflow_jobs() -> list[dict]:
    return [job for path in WORKFLOWS for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values()]


def test_workflow_runs_one_mirror_at_a_time_with_the_token_from_secrets():
    for job in workflow_jobs():
        assert "matrix.mirror" in job["concurrency"]["group"] and job["concurrency"]["cancel-in-progress"] is False
        steps = {step.get("name"): step for step in job["steps"]}
        runs = [step for step in job["steps"] if "mirrord" in step.get("run", "").split()]
        assert [step["env"]["MIRRORD_TOKEN"] for step in runs] == ["${{ secrets.MIRRORD_TOKEN }}"]
        assert not any("MIRRORD_TOKEN" in step.get("run", "") for step in job["steps"]), "never echoed"
        assert steps["Save the state"]["if"] == "always()"
        assert "restore-keys" in steps["Restore the state"]["with"], "a new key each run, the newest restored"


def documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@pytest.mark.parametrize("document", documents(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_manifest_validates_against_the_kubernetes_schema(document):
    kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_kubernetes_validate_catches_a_misspelt_field():
    [cronjob] = [doc for doc in documents() if doc["kind"] == "CronJob"]
    cronjob["spec"]["concurrencyPolice"] = cronjob["spec"].pop("concurrencyPolicy")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(cronjob, kubernetes_validate.latest_version(), strict=True)


def pod_spec(document: dict) -> dict | None:
    """Return the pod spec of a Deployment or CronJob (a CronJob's sits in its job template), else None."""
    workload = document.get("spec", {}).get("jobTemplate", document)
    return workload.get("spec", {}).get("template", {}).get("spec")


def pod_specs() -> list[dict]:
    return [spec for spec in map(pod_spec, documents()) if spec]


def test_pods_run_unprivileged_on_a_read_only_root_with_writable_volumes_where_mirrord_writes():
    specs = pod_specs()
    assert len(specs) == 2
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == image_user()
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert writable == {"/var/lib/mirrord", "/home/mirrord", "/tmp"}
            assert {"secretRef": {"name": "mirrord-credentials"}} in container["envFrom"]


def image_user() -> int:
    return int(re.search(r"^USER (\d+)", CONTAINERFILE.read_text(encoding="utf-8"), re.MULTILINE)[1])


def test_cronjob_never_overlaps_and_the_daemon_is_probed_on_its_metrics_port():
    by_kind = {doc["kind"]: doc for doc in documents()}
    assert by_kind["CronJob"]["spec"]["concurrencyPolicy"] == "Forbid"
    [daemon] = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"]
    probe = daemon["livenessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in daemon["ports"]}
    listen = configmap_config()["metrics"]["listen"]
    assert probe["path"] == "/healthz" and listen.endswith(f":{ports[probe['port']]}")
    assert by_kind["Deployment"]["spec"]["strategy"]["type"] == "Recreate", "never two daemons of one mirror"


def configmap_config() -> dict:
    [configmap] = [doc for doc in documents() if doc["kind"] == "ConfigMap"]
    return tomllib.loads(configmap["data"]["config.toml"])


def test_configmap_holds_a_valid_config(tmp_path):
    [configmap] = [doc for doc in documents() if doc["kind"] == "ConfigMap"]
    path = tmp_path / "config.toml"
    path.write_text(configmap["data"]["config.toml"], encoding="utf-8")
    config = load_config(path, {"STATE_DIRECTORY": str(tmp_path / "state")})
    assert config.metrics_listen == "0.0.0.0:9105"


def command_lines() -> list[tuple[str, list[str]]]:
    """Return (where, arguments after `mirrord`) of every mirrord command line in deploy/."""
    found = []
    for job in workflow_jobs():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                if line.strip().startswith("mirrord "):
                    found.append((f"workflow step {step['name']!r}", shlex.split(line)[1:]))
    entrypoint = containerfile_list("ENTRYPOINT")
    assert entrypoint == ["mirrord"]
    found.append(("Containerfile CMD", containerfile_list("CMD")))
    for doc in documents():
        for container in (pod_spec(doc) or {}).get("containers", []):
            found.append((f"{doc['kind']} {doc['metadata']['name']}", container["args"]))
    return found


def containerfile_list(instruction: str) -> list[str]:
    return json.loads(re.search(rf"^{instruction} (\[.*\])$", CONTAINERFILE.read_text(encoding="utf-8"),
                                re.MULTILINE)[1])


@pytest.mark.parametrize("where,arguments", command_lines(), ids=[where for where, _ in command_lines()])
def test_command_line_parses_with_mirrords_own_parser(where, arguments):
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as error:
        pytest.fail(f"{where}: mirrord {shlex.join(arguments)} is refused by mirrord's parser (exit {error.code})")
    assert args.command in ("once", "run")


def test_the_mirrors_named_exist_in_the_config():
    mirrors = set(configmap_config()["mirror"])
    named = {args[args.index("--mirror") + 1] for _, args in command_lines() if "--mirror" in args}
    assert named <= mirrors | {"$MIRROR"}
    for job in workflow_jobs():
        assert job["strategy"]["matrix"]["mirror"] == sorted(mirrors)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=600, check=check)


@pytest.fixture
def image() -> str:
    """The image .ci/run built from the Containerfile, where a container builder works; else skip."""
    name = os.environ.get(IMAGE_ENV)
    if not name:
        pytest.skip(f"no image built: ${IMAGE_ENV} is unset (.ci/run sets it when podman can build here)")
    return name


def pod(volumes: Path) -> tuple[str, ...]:
    """Return the options of `podman run` for the templates' pod: read-only root, no capabilities, no privilege gain,
    and the three folders mirrord writes on empty folders of this machine that anyone may write, as an emptyDir
    is (podman's tmpfs would take the image folder's owner and mode instead)."""
    mounts = []
    for folder in ("/tmp", "/home/mirrord", "/var/lib/mirrord"):
        empty = volumes / folder.strip("/").replace("/", "-")
        empty.mkdir(parents=True)
        empty.chmod(0o1777)
        mounts.append(f"--volume={empty}:{folder}")
    return ("--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges", *mounts)


def run_read_only(image: str, volumes: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the image as the templates' pods run, with no network but loopback."""
    return podman("run", "--rm", *pod(volumes), "--network=none", image, *args, check=False)


def test_image_runs_mirrord_demo_as_its_user_on_a_read_only_root(image, tmp_path):
    version = run_read_only(image, tmp_path / "version", "--version")
    assert version.returncode == 0 and version.stdout.startswith("mirrord "), version.stderr
    demo = run_read_only(image, tmp_path / "demo", "demo", "--dir", "/tmp/demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Published 11 pages." in demo.stdout
    whoami = podman("run", "--rm", "--read-only", "--entrypoint=id", image, "-u").stdout.strip()
    assert whoami == str(image_user())
    written = podman("run", "--rm", "--read-only", "--entrypoint=touch", image, "/opt/mirrord/x", check=False)
    assert written.returncode != 0, "the root file system is read only"


@pytest.fixture
def served(tmp_path):
    """Yield (site, bare repository, config mounted at /etc/mirrord/config.toml) for a mirror pushed to a git
    daemon, both on this machine's loopback; the config has no state_dir, as in the ConfigMap, so the image's
    $STATE_DIRECTORY applies."""
    bare = bare_repository(tmp_path / "served" / "news.git")
    with Site() as site, git_daemon(tmp_path / "served") as base:
        populate(site)
        config = write_config(tmp_path / "mirrord.toml", site, f"{base}/news.git")
        config.write_text(re.sub(r"^state_dir = .*$", "", config.read_text(encoding="utf-8"), flags=re.MULTILINE),
                          encoding="utf-8")
        yield site, bare, config


def in_pod(tmp_path: Path, config: Path) -> tuple[str, ...]:
    """Return the options of `podman run` for the pod, sharing this machine's network (for the servers on its
    loopback) and with config where the templates mount it."""
    return (*pod(tmp_path / "volumes"), "--network=host", f"--volume={config}:{CONFIG_IN_POD}:ro")


def test_image_publishes_a_cycle_as_the_cronjob_pod_runs_it(image, tmp_path, served):
    """One `once` in the image with the pod's settings and an empty state volume."""
    _, bare, config = served
    run = podman("run", "--rm", *in_pod(tmp_path, config), image, "-c", CONFIG_IN_POD, "once", check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    pages = git(bare, "ls-tree", "-r", "--name-only", "main", "pages/features").split()
    assert len([page for page in pages if page.endswith(".md")]) >= 2


def test_image_runs_the_daemon_healthy_and_stops_it_cleanly_on_sigterm(image, tmp_path, served):
    """`mirrord run` in the image as the Deployment runs it: it publishes, /healthz answers 200 on the metrics
    port the liveness probe asks, and the SIGTERM of a pod's stop ends it with 0."""
    _, bare, config = served
    port = free_port()
    config.write_text(config.read_text(encoding="utf-8") + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n',
                      encoding="utf-8")
    name = f"mirrord-test-{port}"
    podman("run", "--detach", f"--name={name}", *in_pod(tmp_path, config), image, "-c", CONFIG_IN_POD, "run")
    try:
        wait_for(lambda: git(bare, "for-each-ref", "refs/heads/main").strip(), timeout=120, what="a push")
        assert health(port) == 200
        podman("stop", "--time=60", name)
        assert podman("inspect", "--format={{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "--force", name, check=False)
