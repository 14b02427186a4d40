"""Local stand-ins for the AWS parts trnidled talks to, following AWS's documented protocols:

- IMDSv2 (token by PUT with a TTL header, token on every GET, 401/400/403/404 as on EC2),
  with a spot interruption notice that appears after a delay and role credentials that expire;
- the EC2 and CloudWatch Query APIs, which recompute the SigV4 signature of every request from
  the request itself and the known secret, and reject a wrong one, so a signing mistake in the
  daemon fails the tests.

Loopback only. Python standard library only."""
import datetime
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_TTL_MAX = 21600


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Credentials:
    def __init__(self, lifetime):
        self.key = "ASIA" + secrets.token_hex(8).upper()
        self.secret = secrets.token_urlsafe(30)
        self.token = secrets.token_urlsafe(300)
        self.issued = time.time()
        self.expiration = self.issued + lifetime


class ImdsState:
    def __init__(self):
        self.lock = threading.Lock()
        self.instance_id = "i-0123456789abcdef0"
        self.region = "us-east-2"
        self.life_cycle = "spot"  # None: the path is absent
        self.name_tag = "trn-team-1"  # None: tags not in the metadata (404, EC2's default)
        self.role = "trnidled-role"  # None: no role attached
        self.disabled = False  # HttpEndpoint=disabled: 403 everywhere
        self.hang = 0.0  # seconds every request sleeps before answering
        self.spot_action = None  # {"action": "stop", ...} once start + delay has passed
        self.spot_delay = 0.0
        self.rebalance_time = None
        self.cred_lifetime = 6 * 3600
        self.cred_rotate_after = None  # seconds after issue when new credentials appear
        self.creds = [Credentials(self.cred_lifetime)]
        self.tokens = {}  # token -> expiry
        self.started = time.time()
        self.requests = []  # (method, path, status)

    def current_creds(self):
        c = self.creds[-1]
        if self.cred_rotate_after is not None and time.time() >= c.issued + self.cred_rotate_after:
            c = Credentials(self.cred_lifetime)
            self.creds.append(c)
        return c

    def find_creds(self, key):
        for c in self.creds:
            if c.key == key:
                return c
        return None


class ImdsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    @property
    def st(self) -> ImdsState:
        return self.server.state

    def send(self, status, body=b"", ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        with self.st.lock:
            self.st.requests.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def delay(self):
        if self.st.hang:
            time.sleep(self.st.hang)

    def do_PUT(self):
        self.delay()
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.st.disabled:
            return self.send(403, "Forbidden")
        if self.path != "/latest/api/token" or self.headers.get("X-Forwarded-For"):
            return self.send(403, "Forbidden")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= TOKEN_TTL_MAX:
            return self.send(400, "Bad Request")
        token = secrets.token_urlsafe(40)
        with self.st.lock:
            self.st.tokens[token] = time.time() + int(ttl)
        self.send(200, token)

    def value(self, item):
        st = self.st
        now = time.time()
        if item == "instance-id":
            return st.instance_id
        if item == "placement/region":
            return st.region
        if item == "instance-life-cycle":
            return st.life_cycle
        if item == "tags/instance/Name":
            return st.name_tag
        if item == "spot/instance-action":
            if st.spot_action and now >= st.started + st.spot_delay:
                return json.dumps(st.spot_action)
            return None
        if item == "events/recommendations/rebalance":
            return json.dumps({"noticeTime": st.rebalance_time}) if st.rebalance_time else None
        if item == "iam/security-credentials/":
            return st.role
        if st.role and item == "iam/security-credentials/" + st.role:
            c = st.current_creds()
            return json.dumps({"Code": "Success", "LastUpdated": iso(c.issued),
                               "Type": "AWS-HMAC", "AccessKeyId": c.key,
                               "SecretAccessKey": c.secret, "Token": c.token,
                               "Expiration": iso(c.expiration)})
        return None

    def do_GET(self):
        self.delay()
        st = self.st
        if st.disabled:
            return self.send(403, "Forbidden")
        token = self.headers.get("X-aws-ec2-metadata-token")
        with st.lock:
            expiry = st.tokens.get(token)
        # IMDSv1 is off (HttpTokens=required): no valid token, 401.
        if expiry is None or expiry < time.time():
            return self.send(401, "Unauthorized")
        prefix = "/latest/meta-data/"
        if not self.path.startswith(prefix):
            return self.send(404, "Not Found")
        with st.lock:
            v = self.value(self.path[len(prefix):])
        if v is None:
            return self.send(404, "Not Found")
        self.send(200, v)


def sigv4_signature(secret, method, path, query, headers, signed, body, amz_date, scope):
    """Computes the SigV4 signature per AWS's documentation (canonical request, string to
    sign, derived key). headers: lower-case name -> value."""
    def canon_value(v):
        return " ".join(v.strip().split())
    canonical_headers = "".join(f"{h}:{canon_value(headers.get(h, ''))}\n" for h in signed)
    q = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}="
                               f"{urllib.parse.quote(v, safe='-_.~')}" for k, v in q)
    canonical = "\n".join([method, urllib.parse.quote(path, safe="/-_.~"), canonical_query,
                           canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    date, region, service, term = scope.split("/")
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, term):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()


class AwsState:
    def __init__(self, imds: ImdsState):
        self.lock = threading.Lock()
        self.imds = imds
        self.ec2_script = []  # per request: "500", "throttle", "deny"; then normal answers
        self.ec2_deny = False
        self.wrong_secret = False  # verify against another secret: every signature fails
        self.hang = 0.0  # seconds every EC2/CloudWatch request sleeps before answering
        self.requests = []  # dicts: service, params, key, valid, why, status
        self.sns_script = []  # per Publish: "500", "deny", "slow"; then normal answers
        self.sns_delay = 0.0  # seconds every Publish answer waits ("slow" waits 10 s)
        self.topic_arn = "arn:aws:sns:us-east-2:123456789012:trnidled-team"

    def ec2_requests(self):
        with self.lock:
            return [r for r in self.requests if r["service"] == "ec2"]

    def cw_requests(self):
        with self.lock:
            return [r for r in self.requests if r["service"] == "monitoring"]

    def sns_requests(self):
        with self.lock:
            return [r for r in self.requests if r["service"] == "sns"]

    def published(self):
        """The Publish requests SNS accepted (valid signature, status 200)."""
        return [r for r in self.sns_requests() if r["valid"] and r["status"] == 200]


EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def ec2_error(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error></Errors>"
            f"<RequestID>{secrets.token_hex(8)}</RequestID></Response>")


def cw_error(code, message):
    return (f'<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{secrets.token_hex(8)}</RequestId></ErrorResponse>")


class AwsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body):
        body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def verify(self, body):
        """Returns (service, key, None) or (service, key, why it is rejected)."""
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return None, None, "no SigV4 Authorization header"
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred = parts.get("Credential", "").split("/")
        if len(cred) != 5 or cred[4] != "aws4_request":
            return None, None, "malformed Credential"
        key, date, region, service = cred[:4]
        signed = parts.get("SignedHeaders", "").split(";")
        amz_date = self.headers.get("X-Amz-Date", "")
        if not amz_date.startswith(date):
            return service, key, "X-Amz-Date does not match the credential scope"
        t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        if abs(time.time() - t) > 300:
            return service, key, "request time too skewed"
        if region != st.imds.region:
            return service, key, f"wrong region {region}"
        for required in ("host", "x-amz-date", "x-amz-security-token"):
            if required not in signed:
                return service, key, f"{required} is not signed"
        with st.imds.lock:
            c = st.imds.find_creds(key)
        if c is None:
            return service, key, "unknown access key"
        if c.expiration < time.time():
            return service, key, "ExpiredToken"
        if self.headers.get("X-Amz-Security-Token") != c.token:
            return service, key, "wrong session token"
        secret = "not-the-secret" if st.wrong_secret else c.secret
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        want = sigv4_signature(secret, self.command, path, query, headers, signed, body,
                               amz_date, "/".join(cred[1:]))
        if not hmac.compare_digest(want, parts.get("Signature", "")):
            return service, key, "SignatureDoesNotMatch"
        return service, key, None

    def do_POST(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if st.hang:
            time.sleep(st.hang)
        params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        service, key, why = self.verify(body)
        rec = {"service": service, "params": params, "key": key, "valid": why is None,
               "why": why, "time": time.time()}
        status, answer = self.answer(service, params, why)
        rec["status"] = status
        with st.lock:
            st.requests.append(rec)
        self.send(status, answer)

    def answer(self, service, params, why):
        st = self.server.state
        err = ec2_error if service == "ec2" else cw_error
        if why == "ExpiredToken":
            return 400, err("ExpiredToken", "The security token included in the request is expired")
        if why:
            code = "SignatureDoesNotMatch" if why == "SignatureDoesNotMatch" else "AuthFailure"
            return 403 if service == "monitoring" else 401, err(code, why)
        if service == "sns":
            return self.answer_sns(params)
        if service == "monitoring":
            if params.get("Action") != "PutMetricData" or params.get("Version") != "2010-08-01":
                return 400, err("InvalidAction", "unknown action")
            return 200, ('<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/'
                         '2010-08-01/"><ResponseMetadata><RequestId>'
                         f"{secrets.token_hex(8)}</RequestId></ResponseMetadata>"
                         "</PutMetricDataResponse>")
        if params.get("Action") != "StopInstances" or params.get("Version") != "2016-11-15":
            return 400, err("InvalidAction", "unknown action")
        with st.lock:
            step = st.ec2_script.pop(0) if st.ec2_script else None
        if step == "500":
            return 500, err("InternalError", "An internal error has occurred")
        if step == "throttle":
            return 503, err("RequestLimitExceeded", "Request limit exceeded.")
        if st.ec2_deny or step == "deny":
            return 403, err("UnauthorizedOperation",
                            "You are not authorized to perform this operation.")
        iid = params.get("InstanceId.1")
        if iid != st.imds.instance_id:
            return 400, err("InvalidInstanceID.NotFound", f"The instance ID '{iid}' does not exist")
        if params.get("DryRun") == "true":
            return 412, err("DryRunOperation",
                            "Request would have succeeded, but DryRun flag is set.")
        return 200, (f'<?xml version="1.0" encoding="UTF-8"?>\n<StopInstancesResponse '
                     f'xmlns="{EC2_NS}"><requestId>{secrets.token_hex(8)}</requestId>'
                     f"<instancesSet><item><instanceId>{iid}</instanceId>"
                     "<currentState><code>64</code><name>stopping</name></currentState>"
                     "<previousState><code>16</code><name>running</name></previousState>"
                     "</item></instancesSet></StopInstancesResponse>")


    def answer_sns(self, params):
        """SNS Publish (Query API 2010-03-31): the topic must be ours, the subject at most 100
        printable ASCII characters, the message not empty."""
        st = self.server.state
        with st.lock:
            step = st.sns_script.pop(0) if st.sns_script else None
        time.sleep(10 if step == "slow" else st.sns_delay)
        if params.get("Action") != "Publish" or params.get("Version") != "2010-03-31":
            return 400, cw_error("InvalidAction", "unknown action")
        if step == "500":
            return 500, cw_error("InternalError", "An internal error has occurred")
        if step == "deny":
            return 403, cw_error("AuthorizationError", "not authorized to publish")
        if params.get("TopicArn") != st.topic_arn:
            return 404, cw_error("NotFound", "Topic does not exist")
        subject = params.get("Subject", "")
        if not 0 < len(subject) <= 100 or not all(32 <= ord(c) < 127 for c in subject):
            return 400, cw_error("InvalidParameter", "Invalid parameter: Subject")
        if not params.get("Message"):
            return 400, cw_error("InvalidParameter", "Empty message")
        return 200, ('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
                     f"<PublishResult><MessageId>{secrets.token_hex(16)}</MessageId>"
                     "</PublishResult><ResponseMetadata><RequestId>"
                     f"{secrets.token_hex(8)}</RequestId></ResponseMetadata></PublishResponse>")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out and left is part of the tests, not an error


class Stub:
    """IMDS on one port, EC2 + CloudWatch on another, both on 127.0.0.1."""

    def __init__(self):
        self.imds = ImdsState()
        self.aws = AwsState(self.imds)
        self._imds_srv = QuietServer(("127.0.0.1", 0), ImdsHandler)
        self._imds_srv.state = self.imds
        self._imds_srv.daemon_threads = True
        self._aws_srv = QuietServer(("127.0.0.1", 0), AwsHandler)
        self._aws_srv.state = self.aws
        self._aws_srv.daemon_threads = True
        for s in (self._imds_srv, self._aws_srv):
            threading.Thread(target=s.serve_forever, daemon=True).start()

    @property
    def imds_url(self):
        return f"http://127.0.0.1:{self._imds_srv.server_address[1]}"

    @property
    def aws_url(self):
        return f"http://127.0.0.1:{self._aws_srv.server_address[1]}/"

    def close(self):
        for s in (self._imds_srv, self._aws_srv):
            s.shutdown()
            s.server_close()
