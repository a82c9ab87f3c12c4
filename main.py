"""Synthesize the app stack to cdktf.out/: `python main.py` (or `cdktf synth`)."""

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
