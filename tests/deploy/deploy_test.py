#!/usr/bin/python3
"""The deployment files, checked without a cluster or a Docker engine.

- Grafana: every metric the dashboard queries is one a running berth exports
  (scraped from `berth serve` on 127.0.0.1 with the demo model) and, when
  docs/SERVING.md exists, one it documents; the datasource uid matches the
  provisioning.
- Kubernetes (deploy/k8s): parsed, required fields, restricted security
  context, probes on routes a running berth answers 200, grace period above
  the drain timeout, pull initContainer, selectors that match, GPU limits;
  `kubectl kustomize` (offline) when kubectl is installed.
- Compose: structure (read-only, no capabilities, uid 65532, healthchecks,
  depends_on service_healthy) and `docker-compose config` with and without
  the GPU override when docker-compose is installed.
- nginx (`nginx -t` when nginx is installed), Prometheus targets, the
  Dockerfile's runtime stage, .dockerignore, yamllint.
Run: deploy_test.py --berth build/berth
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import berth_cli_test  # noqa: E402

BERTH = None
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
HEALTH_ROUTES = {"/v2/health/live", "/v2/health/ready"}


def load_yaml_documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def duration_seconds(text):
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text))
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


class RunningBerth:
    """`berth serve` on a free loopback port with the example models."""

    def __init__(self):
        self.process = subprocess.Popen(
            [BERTH, "serve", "--model-repository", os.path.join(ROOT, "examples", "models"), "--host", "127.0.0.1",
             "--port", "0", "--log-format", "json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("BERTH_")})
        self.port = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.port is None:
            line = self.process.stderr.readline()
            if not line:
                break
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("msg") == "listening":
                self.port = int(record["address"].rsplit(":", 1)[1])
        if self.port is None:
            self.stop()
            raise RuntimeError("berth serve did not start")
        # Keep reading the log, so that a full pipe never blocks the server.
        threading.Thread(target=lambda: self.process.stderr.read(), daemon=True).start()
        self.base = "http://127.0.0.1:%d" % self.port
        while time.monotonic() < deadline and self.get("/v2/health/ready")[0] != 200:
            time.sleep(0.05)

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def post(self, path, body):
        request = urllib.request.Request(self.base + path, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class DeployTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.berth = RunningBerth()
        try:
            with open(os.path.join(ROOT, "examples", "requests", "digits.json"), "rb") as f:
                status, _ = cls.berth.post("/v2/models/digits/infer", f.read())
            assert status == 200, "infer answered %d" % status
            # The language model's series appear once it has generated.
            status, _ = cls.berth.post("/v1/completions", json.dumps(
                {"model": "kjv-llama", "prompt": "And God said", "max_tokens": 4}).encode())
            assert status == 200, "completion answered %d" % status
            status, text = cls.berth.get("/metrics")
            assert status == 200, "/metrics answered %d" % status
        except BaseException:
            cls.berth.stop()  # tearDownClass does not run when setUpClass fails
            raise
        cls.exported = set()
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                cls.exported.add(line.split()[2])
            elif line and not line.startswith("#"):
                cls.exported.add(re.split(r"[{ ]", line, maxsplit=1)[0])
        cls.serve_help = subprocess.run([BERTH, "serve", "--help"], capture_output=True, text=True).stdout
        cls.pull_help = subprocess.run([BERTH, "pull", "--help"], capture_output=True, text=True).stdout

    @classmethod
    def tearDownClass(cls):
        cls.berth.stop()

    # ------------------------------------------------------------ Grafana

    def dashboard(self):
        with open(os.path.join(DEPLOY, "grafana", "dashboards", "berth.json")) as f:
            return json.load(f)

    def dashboard_queries(self):
        queries = []

        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("expr", "query", "definition") and isinstance(value, str):
                        queries.append(value)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.dashboard())
        return queries

    def test_dashboard_queries_only_metrics_berth_exports(self):
        queries = self.dashboard_queries()
        self.assertGreater(len(queries), 10)
        used = {name for q in queries for name in re.findall(r"\b(berth_[a-z0-9_]+)", q)}
        self.assertTrue(used)
        unknown = sorted(used - self.exported)
        self.assertEqual(unknown, [], "the dashboard queries metrics berth does not export")
        serving = os.path.join(ROOT, "docs", "SERVING.md")
        if os.path.exists(serving):
            with open(serving) as f:
                documented = f.read()
            families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}
            self.assertEqual(sorted(f for f in families if f not in documented), [],
                             "docs/SERVING.md does not list these metrics")

    def test_dashboard_has_the_panels_operators_need(self):
        text = "\n".join(self.dashboard_queries())
        for needed in ("berth_inference_requests_total", 'outcome=~"server_error|rejected"',
                       "histogram_quantile(0.50", "histogram_quantile(0.99", "berth_inference_queue_depth",
                       "berth_inference_inflight_requests", "berth_model_state",
                       "berth_llm_time_to_first_token_seconds_bucket", "berth_llm_inter_token_seconds_bucket",
                       "berth_llm_generation_tokens_total", "berth_llm_running_sequences",
                       "berth_llm_waiting_sequences", "berth_llm_kv_cache_usage_ratio", "berth_llm_requests_total"):
            self.assertIn(needed, text)

    def test_dashboard_datasource_matches_provisioning(self):
        provisioning = load_yaml_documents(
            os.path.join(DEPLOY, "grafana", "provisioning", "datasources", "prometheus.yaml"))[0]
        uid = provisioning["datasources"][0]["uid"]
        for panel in self.dashboard()["panels"]:
            self.assertEqual(panel["datasource"]["uid"], uid, panel["title"])
            for target in panel["targets"]:
                self.assertEqual(target["datasource"]["uid"], uid)
        provider = load_yaml_documents(os.path.join(DEPLOY, "grafana", "provisioning", "dashboards", "berth.yaml"))[0]
        compose = self.compose()
        mounts = compose["services"]["grafana"]["volumes"]
        self.assertIn("./grafana/dashboards:%s:ro" % provider["providers"][0]["options"]["path"], mounts)

    # --------------------------------------------------------- Kubernetes

    def k8s(self):
        objects = []
        for directory in (os.path.join(DEPLOY, "k8s"), os.path.join(DEPLOY, "k8s", "gpu")):
            for name in sorted(os.listdir(directory)):
                if name.endswith(".yaml"):
                    for doc in load_yaml_documents(os.path.join(directory, name)):
                        doc["_file"] = os.path.relpath(os.path.join(directory, name), ROOT)
                        objects.append(doc)
        return objects

    def of_kind(self, kind):
        return [o for o in self.k8s() if o["kind"] == kind]

    @staticmethod
    def matches(selector, labels):
        return all(labels.get(k) == v for k, v in selector.items())

    def test_k8s_objects_have_required_fields(self):
        kinds = {}
        for obj in self.k8s():
            for field in ("apiVersion", "kind", "metadata", "spec"):
                self.assertIn(field, obj, obj["_file"])
            self.assertTrue(obj["metadata"].get("name"), obj["_file"])
            kinds.setdefault(obj["kind"], []).append(obj["apiVersion"])
        self.assertEqual(kinds["Deployment"], ["apps/v1", "apps/v1"])
        self.assertEqual(kinds["Service"], ["v1"])
        self.assertEqual(kinds["HorizontalPodAutoscaler"], ["autoscaling/v2"])
        self.assertEqual(kinds["PodDisruptionBudget"], ["policy/v1"])

    def test_k8s_deployments(self):
        deployments = self.of_kind("Deployment")
        gpu = [d for d in deployments if d["metadata"]["name"] == "berth-gpu"]
        self.assertEqual(len(gpu), 1)
        for deployment in deployments:
            where = deployment["_file"]
            spec = deployment["spec"]
            pod = spec["template"]["spec"]
            labels = spec["template"]["metadata"]["labels"]
            self.assertTrue(self.matches(spec["selector"]["matchLabels"], labels), where)
            # Pod security: restricted.
            self.assertIs(pod["securityContext"]["runAsNonRoot"], True, where)
            self.assertEqual(pod["securityContext"]["runAsUser"], 65532, where)
            self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", where)
            volumes = {v["name"]: v for v in pod["volumes"]}
            for container in pod["initContainers"] + pod["containers"]:
                context = container["securityContext"]
                self.assertIs(context["readOnlyRootFilesystem"], True, where)
                self.assertIs(context["allowPrivilegeEscalation"], False, where)
                self.assertIs(context["runAsNonRoot"], True, where)
                self.assertEqual(context["capabilities"]["drop"], ["ALL"], where)
                for kind in ("requests", "limits"):
                    self.assertIn("cpu", container["resources"][kind], where)
                    self.assertIn("memory", container["resources"][kind], where)
                mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
                self.assertIn("emptyDir", volumes[mounts["/tmp"]["name"]], "writable /tmp")
            # initContainer: berth pull into the emptyDir the server reads.
            (init,) = pod["initContainers"]
            self.assertEqual(init["command"], ["/usr/bin/berth", "pull"], where)
            init_mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
            self.assertIn("emptyDir", volumes[init_mounts["/models"]])
            for flag in [a for a in init["args"] if a.startswith("--")]:
                self.assertIn(flag, self.pull_help)
            (server,) = pod["containers"]
            server_mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
            self.assertEqual(server_mounts["/models"]["name"], init_mounts["/models"])
            self.assertIs(server_mounts["/models"]["readOnly"], True)
            for flag in [a for a in server["args"] if a.startswith("--")]:
                self.assertIn(flag, self.serve_help)
            env = {e["name"]: e.get("value") for e in server["env"]}
            for name in env:
                if name.startswith("BERTH_"):
                    self.assertIn("Env:" + name, self.serve_help)
            # Probes: on berth's health routes, through the named port.
            ports = {p["name"]: p["containerPort"] for p in server["ports"]}
            self.assertEqual(ports["http"], int(env["BERTH_PORT"]))
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                get = server[probe]["httpGet"]
                self.assertIn(get["path"], HEALTH_ROUTES, where)
                self.assertIn(get["port"], ports)
            self.assertEqual(server["readinessProbe"]["httpGet"]["path"], "/v2/health/ready")
            self.assertEqual(server["livenessProbe"]["httpGet"]["path"], "/v2/health/live")
            # Grace period above preStop + the drain timeout.
            pre_stop = server.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            self.assertGreater(pod["terminationGracePeriodSeconds"], pre_stop + float(env["BERTH_EXIT_TIMEOUT_SECS"]))
        limits = gpu[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        self.assertEqual(limits["nvidia.com/gpu"], 1)

    def test_k8s_probe_paths_answer_200_on_a_running_berth(self):
        paths = {d["spec"]["template"]["spec"]["containers"][0][p]["httpGet"]["path"]
                 for d in self.of_kind("Deployment") for p in ("startupProbe", "readinessProbe", "livenessProbe")}
        for path in paths:
            self.assertEqual(self.berth.get(path)[0], 200, path)

    def test_k8s_service_hpa_pdb_select_the_pods(self):
        deployments = {d["metadata"]["name"]: d for d in self.of_kind("Deployment")}
        pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
        (service,) = self.of_kind("Service")
        for name, labels in pods.items():
            self.assertTrue(self.matches(service["spec"]["selector"], labels), name)
            container_ports = [p["name"] for p in deployments[name]["spec"]["template"]["spec"]["containers"][0]["ports"]]
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], container_ports)
        # The two Deployments' selectors must not overlap.
        self.assertFalse(self.matches(deployments["berth"]["spec"]["selector"]["matchLabels"], pods["berth-gpu"]))
        self.assertFalse(self.matches(deployments["berth-gpu"]["spec"]["selector"]["matchLabels"], pods["berth"]))
        (hpa,) = self.of_kind("HorizontalPodAutoscaler")
        target = hpa["spec"]["scaleTargetRef"]
        self.assertEqual((target["kind"], target["apiVersion"]), ("Deployment", "apps/v1"))
        self.assertIn(target["name"], deployments)
        self.assertLessEqual(hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"])
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        (pdb,) = self.of_kind("PodDisruptionBudget")
        self.assertTrue(self.matches(pdb["spec"]["selector"]["matchLabels"], pods[target["name"]]))
        self.assertLess(pdb["spec"]["minAvailable"], hpa["spec"]["minReplicas"], "a PDB must allow a drain")

    @unittest.skipUnless(shutil.which("kubectl"), "kubectl is not installed")
    def test_kubectl_kustomize_builds_the_manifests(self):
        with tempfile.TemporaryDirectory() as tmp:
            files = sorted({o["_file"] for o in self.k8s()})
            with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
                yaml.safe_dump({"resources": [os.path.join(ROOT, name) for name in files]}, f)
            r = subprocess.run(["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", tmp],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            built = [d for d in yaml.safe_load_all(r.stdout) if d]
            self.assertEqual(len(built), len(self.k8s()))

    # ------------------------------------------------------------ Compose

    def compose(self):
        with open(os.path.join(DEPLOY, "compose.yaml")) as f:
            return yaml.safe_load(f)

    def test_compose_berth_replicas_are_locked_down(self):
        services = self.compose()["services"]
        replicas = [name for name in services if name.startswith("berth-")]
        self.assertEqual(replicas, ["berth-1", "berth-2"])
        for name in replicas:
            s = services[name]
            self.assertEqual(s["user"], "65532:65532")
            self.assertIs(s["read_only"], True)
            self.assertEqual(s["cap_drop"], ["ALL"])
            self.assertIn("/tmp", s["tmpfs"])
            self.assertTrue(any(v.endswith(":/models:ro") for v in s["volumes"]), "read-only models volume")
            self.assertEqual(s["healthcheck"]["test"], ["CMD", "/usr/bin/berth", "health"])
            self.assertGreater(duration_seconds(s["stop_grace_period"]), float(s["environment"]["BERTH_EXIT_TIMEOUT_SECS"]))
            for env in s["environment"]:
                self.assertIn("Env:" + env, self.serve_help)

    def test_compose_services_have_healthchecks_and_wait_for_health(self):
        services = self.compose()["services"]
        self.assertEqual(set(services), {"berth-1", "berth-2", "nginx", "redis", "prometheus", "grafana"})
        for name, s in services.items():
            self.assertIn("healthcheck", s, name)
            self.assertRegex(s["image"], r"^\$\{[A-Z_]+_IMAGE:-[^}]+\}$", "image from the environment: " + name)
            for dependency in s.get("depends_on", {}).values():
                self.assertEqual(dependency, {"condition": "service_healthy"}, name)
        for upstream in ("nginx", "prometheus"):
            self.assertEqual(set(services[upstream]["depends_on"]), {"berth-1", "berth-2"})

    @unittest.skipUnless(shutil.which("docker-compose"), "docker-compose is not installed")
    def test_docker_compose_config_accepts_the_files(self):
        env = dict(os.environ, DOCKER_HOST="unix:///nonexistent")  # config needs no engine
        base = ["docker-compose", "--project-directory", DEPLOY, "-f", os.path.join(DEPLOY, "compose.yaml")]
        r = subprocess.run(base + ["config"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(base + ["-f", os.path.join(DEPLOY, "compose.gpu.yaml"), "config"], capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        config = yaml.safe_load(r.stdout)
        for name in ("berth-1", "berth-2"):
            devices = config["services"][name]["deploy"]["resources"]["reservations"]["devices"]
            self.assertEqual(devices[0]["driver"], "nvidia")
            self.assertEqual(devices[0]["capabilities"], ["gpu"])
            self.assertIs(config["services"][name]["read_only"], True, "the override keeps the hardening")

    # ------------------------------------------------- nginx, Prometheus

    def test_nginx_config(self):
        with open(os.path.join(DEPLOY, "nginx", "nginx.conf")) as f:
            text = f.read()
        for directive in ("least_conn;", "server berth-1:8080 max_fails=", "server berth-2:8080 max_fails=",
                          "keepalive 32;", "proxy_next_upstream error timeout http_502 http_503",
                          "proxy_buffering off;", 'proxy_set_header Connection "";', "proxy_http_version 1.1;"):
            self.assertIn(directive, text)
        if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
            self.skipTest("nginx is not installed")
        with tempfile.TemporaryDirectory() as tmp:
            local = text.replace("berth-1:8080", "127.0.0.1:%d" % self.berth.port)
            local = local.replace("berth-2:8080", "127.0.0.2:%d" % self.berth.port)
            local = local.replace("/tmp/nginx", os.path.join(tmp, "nginx"))
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(local)
            nginx = shutil.which("nginx") or "/usr/sbin/nginx"
            r = subprocess.run([nginx, "-t", "-p", tmp, "-c", conf], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_prometheus_scrapes_every_replica(self):
        config = load_yaml_documents(os.path.join(DEPLOY, "prometheus", "prometheus.yml"))[0]
        (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "berth"]
        self.assertEqual(job["metrics_path"], "/metrics")
        self.assertEqual(self.berth.get("/metrics")[0], 200)
        targets = [t for c in job["static_configs"] for t in c["targets"]]
        self.assertEqual(sorted(targets), ["berth-1:8080", "berth-2:8080"])
        if shutil.which("promtool"):
            r = subprocess.run(["promtool", "check", "config", "--syntax-only",
                                os.path.join(DEPLOY, "prometheus", "prometheus.yml")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # ----------------------------------------------------- image, lint

    def test_dockerfile_runtime_stage(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        runtime = text[text.index("FROM scratch AS runtime"):text.index("AS demo")]
        for line in ("USER 65532:65532", "EXPOSE 8080", 'CMD ["/usr/bin/berth", "health"]',
                     'ENTRYPOINT ["/usr/bin/berth", "serve"]', 'CMD ["--host", "0.0.0.0", "--model-repository", "/models"]',
                     'VOLUME ["/tmp"]', "org.opencontainers.image.version", "org.opencontainers.image.revision",
                     "org.opencontainers.image.source"):
            self.assertIn(line, runtime)
        self.assertIn("COPY examples/models /models", text[text.index("AS demo"):])
        self.assertIn("install-deps.sh build", text)
        with open(os.path.join(ROOT, ".dockerignore")) as f:
            ignore = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        self.assertEqual(ignore[0], "*", ".dockerignore lets in only what the build needs")
        for allowed in ignore[1:]:
            self.assertFalse(re.match(r"!(\.git|build|bench)", allowed), allowed)

    @unittest.skipUnless(shutil.which("yamllint"), "yamllint is not installed")
    def test_yamllint(self):
        r = subprocess.run(["yamllint", "-f", "parsable", "-c", os.path.join(DEPLOY, ".yamllint"), DEPLOY],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    berth_cli_test.main(sys.modules[__name__])
