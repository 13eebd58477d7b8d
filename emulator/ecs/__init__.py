"""ECS instance-side APIs: DescribeRegions, DescribeInstances, DescribeCloudAssistantStatus
(docs/api-contract.md#describecloudassistantstatus, #instance-apis)."""
