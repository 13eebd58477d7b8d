"""ECS instance-side APIs: DescribeRegions, DescribeInstances, DescribeCloudAssistantStatus (contract §2.12, §2.14)."""
