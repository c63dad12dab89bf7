"""Every obstore option name our configurations accept is one obstore accepts."""

from __future__ import annotations

from typing import Any

import pytest
from obstore.exceptions import UnknownConfigurationKeyError
from obstore.store import AzureStore, GCSStore, S3Store

from backup_store.errors import ConfigurationError
from backup_store.stores.azure import AzureConfig
from backup_store.stores.config import StoreConfig
from backup_store.stores.gcs import GcsConfig
from backup_store.stores.s3 import S3Config

STORES: list[tuple[type[StoreConfig], Any]] = [
    (S3Config, lambda config: S3Store("bucket", config=config)),
    (GcsConfig, lambda config: GCSStore("bucket", config=config)),
    (AzureConfig, lambda config: AzureStore("container", config=config)),
]


@pytest.mark.parametrize(("config_class", "build"), STORES)
def test_obstore_knows_every_name_we_accept_as_its_own(
    config_class: type[StoreConfig], build: Any
) -> None:
    names = set(config_class.ALIASES) | config_class.obstore_option_names()
    assert len(names) > 40
    for name in sorted(names):
        try:
            build({name: "1"})
        except UnknownConfigurationKeyError:
            pytest.fail(f"obstore does not know {name!r} for {config_class.__name__}")
        except Exception:  # noqa: S112 - a value obstore refuses is fine: the name is known
            continue


def test_aliases_set_our_fields_and_other_names_pass_through() -> None:
    s3_options: dict[str, Any] = {
        "bucket": "b", "aws_endpoint": "http://127.0.0.1:9", "aws_region": "eu-west-1",
        "virtual_hosted_style_request": "false", "aws_timeout": "30s",
    }  # fmt: skip
    config = S3Config(**s3_options)
    assert (config.endpoint, config.region) == ("http://127.0.0.1:9", "eu-west-1")
    assert set(config.obstore_options) == {"virtual_hosted_style_request", "aws_timeout"}
    assert "30s" not in repr(config)  # passed-through values may be secrets
    azure_options: dict[str, Any] = {
        "container_name": "c", "azure_storage_account_name": "acct", "master_key": "k"
    }
    azure = AzureConfig(**azure_options)
    assert (azure.container, azure.account_name) == ("c", "acct")
    assert azure.account_key is not None and azure.account_key.get_secret_value() == "k"
    gcs_options: dict[str, Any] = {"google_bucket": "g", "google_service_account": "/key.json"}
    gcs = GcsConfig(**gcs_options)
    assert (gcs.bucket, gcs.service_account_path) == ("g", "/key.json")


def test_an_option_given_twice_under_two_names_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="already given"):
        S3Config(**{"bucket": "b", "endpoint": "http://a:1", "aws_endpoint": "http://b:1"})
