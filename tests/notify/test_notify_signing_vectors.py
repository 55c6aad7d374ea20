"""Every signer against PLATFORMS.md §15 vectors, and TC3 against Tencent's own published example."""

from __future__ import annotations

from urllib.parse import quote

from shopsentinel.notify.channels.aliyun_signing import percent_encode, sign_rpc_v2, string_to_sign
from shopsentinel.notify.channels.dingtalk import sign_dingtalk
from shopsentinel.notify.channels.feishu import sign_feishu
from shopsentinel.notify.channels.tencent_signing import Authorization, canonical_request, sign_tc3
from shopsentinel.notify.channels.webhook import webhook_signature


def test_dingtalk_vector_base64_and_url_encoded() -> None:
    signature = sign_dingtalk("SECtestsecret", 1700000000000)
    assert signature == "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="
    assert quote(signature, safe="") == "7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"


def test_feishu_vector_key_is_timestamp_and_secret_message_empty() -> None:
    assert sign_feishu("testsecret", 1700000000) == "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8="


def test_aliyun_v2_reproduces_published_describe_regions_example() -> None:
    params = {
        "AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
        "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
    }  # fmt: skip
    assert sign_rpc_v2("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert string_to_sign("GET", params).startswith("GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions")


def test_aliyun_percent_encoding_is_rfc3986() -> None:
    assert percent_encode("a b*c~d+e/") == "a%20b%2Ac~d%2Be%2F"
    assert percent_encode("测") == "%E6%B5%8B"


SMS_BODY = '{"PhoneNumberSet":["+8613800000000"],"SmsSdkAppId":"1400000000","SignName":"测试","TemplateId":"100","TemplateParamSet":["1234"]}'


def test_tencent_tc3_platforms_vector() -> None:
    # §15 leaves the header values implicit; it reproduces with the values SendSms really sends:
    # content-type "application/json; charset=utf-8", host sms.tencentcloudapi.com, action lower-cased.
    headers = {"Content-Type": "application/json; charset=utf-8", "Host": "sms.tencentcloudapi.com", "X-TC-Action": "SendSms"}
    signature = sign_tc3(
        "SKEXAMPLE", service="sms", timestamp=1700000000, headers=headers,
        signed_headers=["content-type", "host", "x-tc-action"], body=SMS_BODY.encode("utf-8"),
    )  # fmt: skip
    assert signature == "6b06f013f5ce21391783dc680d8b14e2b81893df784be7dcac9ff24f274bbb27"


def test_tencent_tc3_reproduces_tencents_published_cvm_example() -> None:
    # Tencent's signature-v3 guide: CVM DescribeInstances at 1551113065 (2019-02-25), signed
    # headers content-type;host, published signature 72e494ea...; an independent check of §15.
    body = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    headers = {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"}
    signature = sign_tc3(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", service="cvm", timestamp=1551113065, headers=headers,
        signed_headers=["content-type", "host"], body=body.encode("utf-8"),
    )  # fmt: skip
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    assert canonical_request(headers, ["content-type", "host"], body.encode()).endswith(
        "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )


def test_tencent_authorization_header_round_trips() -> None:
    auth = Authorization("AKIDEXAMPLE", "2023-11-14", "sms", ["content-type", "host", "x-tc-action"], "ab12")
    header = auth.header()
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2023-11-14/sms/tc3_request, "
        "SignedHeaders=content-type;host;x-tc-action, Signature=ab12"
    )
    assert Authorization.parse(header) == auth


def test_generic_webhook_signature_is_hex_hmac_sha256_of_body() -> None:
    # Independently computed: printf '{"a":1}' | openssl dgst -sha256 -hmac s3cret
    assert webhook_signature("s3cret", b'{"a":1}') == "sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d"
