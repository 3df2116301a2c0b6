"""The measured apps. Each runs as its own fresh process (cold jsii start) and prints its phases."""
