"""Synthesize the app stack to cdktf.out/: `python main.py` (or `cdktf synth`)."""

# Before any cdktf_cdktf_provider_google import: constructs_lib makes the provider
# package load only the resources the stack uses (see constructs_lib/fast_provider.py).
import constructs_lib  # noqa: F401, I001

from cdktf import App

from stacks.app_stack import AppStack

STACK_NAME = "app"


def main() -> None:
    app = App()
    AppStack(app, STACK_NAME)
    app.synth()
    print(f"Terraform JSON written to {app.outdir}/stacks/{STACK_NAME}/cdk.tf.json")


if __name__ == "__main__":
    main()
